"""The backend contract: one required call (continue a prompt), typed requests and results.

A backend knows how to talk to one model: an in-process llama.cpp model, an OpenAI-compatible
endpoint, or a scripted fake. Retries, fault accounting and usage totals live in
:class:`adaswitch.model.Model`, which wraps a backend; the collaboration code only ever sees
``Model`` objects handed to it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import numpy as np

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    role: Role
    content: str


class CompletionRequest(BaseModel):
    """Continue a conversation.

    When ``continue_final`` is true the last message is an *unfinished* assistant message and the
    backend must continue its text (no new turn). Backends that cannot continue a partial assistant
    turn natively (plain chat APIs) fold it into the conversation in a documented way.
    """

    messages: list[Message]
    continue_final: bool = False
    max_tokens: int = 256
    temperature: float = 0.0
    stop: list[str] = Field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = 0
    seed: int | None = None
    grammar: str | None = None
    """A GBNF grammar the completion must follow (:mod:`adaswitch.grammar`). Backends that cannot
    constrain decoding ignore it and say so in :attr:`Backend.honours_grammar`; the caller then reads
    the text leniently."""


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)


FinishReason = Literal["stop", "length", "error"]


class Completion(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    """Prompt tokens the backend actually had to process (after KV-cache reuse). Backends that
    cannot tell report ``prompt_tokens``."""
    finish_reason: FinishReason = "stop"
    latency_s: float = 0.0
    logprobs: list[TokenLogprob] | None = None


class ProbeRequest(BaseModel):
    """Read the next-token probabilities of a few candidate continuations of a conversation.

    The conversation is rendered as for a new assistant turn (``continue_final`` false) or as a
    continuation of the final assistant message. Each candidate is a short string such as
    ``"Yes"``; its probability is that of the first token of the candidate, summed over the
    spellings the backend considers equivalent (with and without a leading space, capitalised).
    """

    messages: list[Message]
    continue_final: bool = False
    candidates: list[str]


class ProbeResult(BaseModel):
    probs: dict[str, float]
    """Probability mass of each candidate (not renormalised; may sum to less than 1)."""
    prompt_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    latency_s: float = 0.0
    exact: bool = True
    """False when the backend only saw a top-k list and unseen candidates got a floor value."""


class HiddenStateRequest(BaseModel):
    """Read the model's final hidden state (after the output norm) at the last token of a prompt,
    rendered as for :class:`ProbeRequest`."""

    messages: list[Message]
    continue_final: bool = False


@dataclass(frozen=True)
class HiddenState:
    vector: np.ndarray
    """float32, shape ``(hidden_size,)``."""
    prompt_tokens: int = 0
    recomputed_prompt_tokens: int = 0
    latency_s: float = 0.0


class BackendError(Exception):
    """A call to a model failed. ``kind`` says how; ``retryable`` whether trying again may help."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Backend(ABC):
    """One model. Subclasses implement :meth:`complete`; :meth:`probe` has a generic default;
    :meth:`hidden_state` is optional (the default refuses with kind ``unsupported``)."""

    name: str = "backend"
    parameters: int | None = None
    """Number of model parameters when known (for FLOP estimates)."""
    in_process: bool = False
    """True when the model computes in this process: callers then run one request at a time."""
    model_file: Path | None = None
    """The weights file, when the backend runs one (identifies the exact model)."""
    adapter_file: Path | None = None
    """A LoRA adapter (GGUF) applied to ``model_file`` at load time, when there is one."""
    hidden_size: int | None = None
    """Length of the vectors :meth:`hidden_state` returns, when the backend can read them."""
    honours_grammar: bool = False
    """True when :meth:`complete` decodes under ``CompletionRequest.grammar``."""
    context_size: int | None = None
    """Tokens one request may hold (prompt and completion), when the backend knows it."""
    prompt_style: str = "few-shot"
    """How the engine asks this model for a step (``prompts.PROMPT_STYLES``): ``zero-shot`` for a
    model practised on gold trajectories, whose registry manifest says so."""

    @abstractmethod
    def complete(self, request: CompletionRequest) -> Completion:
        """Continue the conversation. Raise :class:`BackendError` on failure."""

    def probe(self, request: ProbeRequest) -> ProbeResult:
        """Candidate probabilities from the top log-probabilities of one generated token.

        Backends with access to the full next-token distribution override this with an exact read.
        """
        completion = self.complete(
            CompletionRequest(
                messages=request.messages,
                continue_final=request.continue_final,
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=20,
            )
        )
        if not completion.logprobs:
            raise BackendError("unsupported", f"{self.name} returned no log-probabilities", retryable=False)
        first = completion.logprobs[0]
        top = dict(first.top) or {first.token: first.logprob}
        probs = candidate_mass(top, request.candidates)
        return ProbeResult(
            probs=probs,
            prompt_tokens=completion.prompt_tokens,
            recomputed_prompt_tokens=completion.recomputed_prompt_tokens,
            latency_s=completion.latency_s,
            exact=False,
        )

    def hidden_state(self, request: HiddenStateRequest) -> HiddenState:
        """The final hidden state at the prompt's last token. Only backends that run the model
        themselves can read it; the default refuses."""
        raise BackendError(
            "unsupported",
            f"{self.name} cannot read hidden states (only in-process llama.cpp models and the fake can); "
            "use another introspection signal",
            retryable=False,
        )

    def count_tokens(self, messages: list[Message], *, continue_final: bool = False) -> int | None:
        """Prompt tokens of a conversation as this backend would send it; None when it cannot tell."""
        return None

    def identity_settings(self) -> dict[str, Any]:
        """Settings besides the model file that change the reply to a given request (an endpoint's
        URL, a loaded adapter); part of the response-cache and run-resume identity."""
        return {}

    def close(self) -> None:
        """Release resources (files, sockets, model memory)."""


def candidate_spellings(candidate: str) -> set[str]:
    """Spellings of a candidate answer word that count as the same first token."""
    base = candidate.strip()
    forms = {base, base.lower(), base.capitalize(), base.upper()}
    return forms | {" " + f for f in forms}


def candidate_mass(top_logprobs: dict[str, float], candidates: list[str]) -> dict[str, float]:
    """Sum the probability of every spelling of each candidate found in a top-k list."""
    result: dict[str, float] = {}
    for candidate in candidates:
        spellings = candidate_spellings(candidate)
        result[candidate] = sum(math.exp(lp) for tok, lp in top_logprobs.items() if tok in spellings)
    return result
