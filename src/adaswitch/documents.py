"""A paragraph of a question's knowledge base."""

from __future__ import annotations

from pydantic import BaseModel


class Document(BaseModel):
    title: str
    text: str

    def render(self) -> str:
        return f"[{self.title}] {self.text}" if self.title else self.text
