"""Token and time accounting as a value that adds up."""

from __future__ import annotations

from pydantic import BaseModel


class Usage(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    latency_s: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            recomputed_prompt_tokens=self.recomputed_prompt_tokens + other.recomputed_prompt_tokens,
            latency_s=self.latency_s + other.latency_s,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def processed_tokens(self) -> int:
        """Tokens the model actually ran through: recomputed prompt plus generated tokens."""
        return self.recomputed_prompt_tokens + self.completion_tokens
