"""A scripted backend for deterministic tests and demos, selectable like any other backend.

Replies come from rules (a regular expression searched in the last message; first match wins,
optionally a limited number of times), then from a queue consumed in order, then from a default.
Probes (yes/no judgments) work the same way. Hidden states are a fixed-length vector derived from the
prompt text, plus the ``hidden`` offset of the first matching hidden-state rule (so a test can give
some steps a separable signal). A list of faults can be injected, one per call, to
exercise retries and fallbacks. Tokens are counted as whitespace-separated words, and KV-cache
reuse is simulated against the previous prompt, so the accounting of the engine can be tested.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from pydantic import BaseModel, Field

from adaswitch.backends.base import (
    Backend,
    BackendError,
    Completion,
    CompletionRequest,
    HiddenState,
    HiddenStateRequest,
    Message,
    ProbeRequest,
    ProbeResult,
    TokenLogprob,
)


class FakeReply(BaseModel):
    match: str | None = None
    """Regular expression searched in the last message; None matches anything."""
    text: str = ""
    probs: dict[str, float] = Field(default_factory=dict)
    """For probes: probability of each candidate (a key without its leading space also matches)."""
    hidden: list[float] = Field(default_factory=list)
    """For hidden states: added to the first entries of the text's base vector."""
    logprob: float = -0.1
    """Log-probability given to every generated token."""
    times: int | None = None
    """How many times this rule may fire (None: unlimited)."""


class FakeScript(BaseModel):
    rules: list[FakeReply] = Field(default_factory=list)
    queue: list[FakeReply] = Field(default_factory=list)
    default: FakeReply = FakeReply(text="Thought: I have no scripted reply.\nAction: finish[unknown]")
    probe_rules: list[FakeReply] = Field(default_factory=list)
    probe_queue: list[FakeReply] = Field(default_factory=list)
    probe_default: dict[str, float] = Field(default_factory=lambda: {"Yes": 0.5, "No": 0.5})
    hidden_rules: list[FakeReply] = Field(default_factory=list)
    hidden_size: int = 8
    faults: list[str | None] = Field(default_factory=list)
    """One entry per call: None (answer normally) or a fault kind to raise, e.g. "timeout"."""
    parameters: int = 1_000_000
    delay_s: float = 0.0
    """Seconds each call takes (to exercise timeouts, queues, concurrency and kills)."""


_RETRYABLE = {"timeout", "connection", "rate_limit", "server_error", "bad_response"}


class FakeBackend(Backend):
    def __init__(self, script: FakeScript | None = None, name: str = "fake", model_file: str | Path | None = None):
        self.script = (script or FakeScript()).model_copy(deep=True)
        self._script_sha256 = hashlib.sha256(self.script.model_dump_json().encode("utf-8")).hexdigest()
        self.name = name
        self.model_file = Path(model_file) if model_file is not None else None
        self.parameters = self.script.parameters
        self.hidden_size = self.script.hidden_size
        self.requests: list[CompletionRequest | ProbeRequest | HiddenStateRequest] = []
        self._fired: dict[tuple[str, int], int] = {}
        self._previous_prompt: list[str] = []

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> "FakeBackend":
        script = FakeScript.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
        return cls(script, name=name or f"fake:{Path(path).name}")

    def count_tokens(self, messages: list[Message], *, continue_final: bool = False) -> int:
        """Words, as the fake counts its prompt tokens (without touching its prompt cache)."""
        return len(" ".join(f"<{m.role}> {m.content}" for m in messages).split())

    def identity_settings(self) -> dict[str, str]:
        """The script is the fake's model: two scripts are two models."""
        return {"script_sha256": self._script_sha256}

    def complete(self, request: CompletionRequest) -> Completion:
        self._maybe_fail()
        self.requests.append(request)
        prompt, recomputed = self._account(request.messages)
        reply = self._pick("rules", self.script.rules, self.script.queue, request.messages) or self.script.default
        text, finish = _apply_stops(reply.text, request.stop)
        words = text.split()
        if len(words) > request.max_tokens:
            words = words[: request.max_tokens]
            text, finish = " ".join(words), "length"
        logprobs = None
        if request.logprobs:
            logprobs = [TokenLogprob(token=w, logprob=reply.logprob, top={w: reply.logprob}) for w in words]
        return Completion(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(words),
            recomputed_prompt_tokens=recomputed,
            finish_reason=finish,
            latency_s=0.0,
            logprobs=logprobs,
        )

    def probe(self, request: ProbeRequest) -> ProbeResult:
        self._maybe_fail()
        self.requests.append(request)
        prompt, recomputed = self._account(request.messages)
        reply = self._pick("probe_rules", self.script.probe_rules, self.script.probe_queue, request.messages)
        probs = reply.probs if reply else self.script.probe_default
        return ProbeResult(
            probs={c: float(probs.get(c, probs.get(c.strip(), 0.0))) for c in request.candidates},
            prompt_tokens=len(prompt),
            recomputed_prompt_tokens=recomputed,
        )

    def hidden_state(self, request: HiddenStateRequest) -> HiddenState:
        """A unit-scale vector seeded by the prompt text, plus the matching rule's ``hidden`` offset."""
        import numpy as np

        self._maybe_fail()
        self.requests.append(request)
        prompt, recomputed = self._account(request.messages)
        seed = int.from_bytes(hashlib.sha256(" ".join(prompt).encode("utf-8")).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.hidden_size).astype(np.float32)
        rule = self._pick("hidden_rules", self.script.hidden_rules, [], request.messages)
        if rule is not None and rule.hidden:
            offset = np.asarray(rule.hidden[: self.hidden_size], dtype=np.float32)
            vector[: len(offset)] += offset
        return HiddenState(vector=vector, prompt_tokens=len(prompt), recomputed_prompt_tokens=recomputed)

    def _pick(
        self, table: str, rules: list[FakeReply], queue: list[FakeReply], messages: list[Message]
    ) -> FakeReply | None:
        last = messages[-1].content if messages else ""
        for position, rule in enumerate(rules):
            key = (table, position)
            if rule.times is not None and self._fired.get(key, 0) >= rule.times:
                continue
            if rule.match is None or re.search(rule.match, last):
                self._fired[key] = self._fired.get(key, 0) + 1
                return rule
        if queue:
            return queue.pop(0)
        return None

    def _maybe_fail(self) -> None:
        if self.script.delay_s:
            time.sleep(self.script.delay_s)
        if not self.script.faults:
            return
        kind = self.script.faults.pop(0)
        if kind is not None:
            raise BackendError(kind, f"injected {kind}", retryable=kind in _RETRYABLE)

    def _account(self, messages: list[Message]) -> tuple[list[str], int]:
        prompt = " ".join(f"<{m.role}> {m.content}" for m in messages).split()
        common = 0
        for old, new in zip(self._previous_prompt, prompt):
            if old != new:
                break
            common += 1
        self._previous_prompt = prompt
        return prompt, len(prompt) - common


def _apply_stops(text: str, stops: list[str]) -> tuple[str, str]:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return (text[:cut], "stop") if cut >= 0 else (text, "stop")
