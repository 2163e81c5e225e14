"""Typed pieces of one reasoning step: the action a model asked for and what the tool returned."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Action(BaseModel):
    """A tool call written by an agent, e.g. ``calculate[3 * (4 + 5)]``."""

    tool: str
    argument: str

    def render(self) -> str:
        return f"{self.tool}[{self.argument}]"

    def call_key(self) -> tuple[str, str]:
        """The call with case and whitespace ignored: two actions with equal keys return the same."""
        return self.tool.lower(), "".join(self.argument.split()).lower()

    def repeats(self, earlier: "list[Action] | tuple[Action, ...]") -> bool:
        """True when this is a tool call (not ``finish``) that one of ``earlier`` already made."""
        if self.tool == "finish":
            return False
        key = self.call_key()
        return any(action.call_key() == key for action in earlier)


class ParsedStep(BaseModel):
    """What the parser made of a model's raw step text.

    ``action`` is None when no usable action could be read; ``error`` then says why. ``repairs``
    lists what the parser had to fix to read the step (a code fence removed, a ``\\boxed{}`` answer
    read as ``finish``, ...), so that the trace shows how lenient it was.
    """

    thought: str = ""
    action: Action | None = None
    error: str | None = None
    repairs: list[str] = Field(default_factory=list)

    @property
    def is_free_reasoning(self) -> bool:
        """A paragraph of the paragraph step format: no action, and none was expected (no error)."""
        return self.action is None and self.error is None


class ToolResult(BaseModel):
    """What a tool returned. ``ok`` is False when the call failed; ``text`` then explains why."""

    text: str
    ok: bool = True
