"""A model as the collaboration sees it: a backend plus retries and fault accounting.

Backends make one attempt and raise :class:`BackendError` on failure. :class:`Model` retries the
retryable failures with exponential backoff (honouring ``Retry-After``), and returns each reply
together with the faults it met, so that the trace can say exactly what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from typing import TYPE_CHECKING, Generic, TypeVar

from adaswitch.backends.base import (
    Backend,
    BackendError,
    Completion,
    CompletionRequest,
    HiddenState,
    HiddenStateRequest,
    ProbeRequest,
    ProbeResult,
)
from adaswitch.identity import backend_identity
from adaswitch.trace import Agent, CallPurpose, CallRecord, FaultRecord

if TYPE_CHECKING:
    from adaswitch.response_cache import ResponseCache
    from adaswitch.redaction import Redactor


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, error: BackendError) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if error.retry_after_s is not None:
            return min(max(error.retry_after_s, 0.0), self.max_delay_s)
        return min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)


@dataclass
class Reply:
    completion: Completion
    attempts: int
    faults: list[FaultRecord] = field(default_factory=list)
    bytes_sent: int = 0
    cached: bool = False
    redactions: int = 0


def call_record(reply: Reply, agent: Agent, purpose: CallPurpose, *, constrained: bool = False) -> CallRecord:
    """The trace's record of one completion call: its tokens, time, attempts and what was sent."""
    completion = reply.completion
    return CallRecord(
        agent=agent,
        purpose=purpose,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        recomputed_prompt_tokens=completion.recomputed_prompt_tokens,
        latency_s=completion.latency_s,
        attempts=reply.attempts,
        bytes_sent=reply.bytes_sent,
        cached=reply.cached,
        redactions=reply.redactions,
        constrained=constrained,
    )


ResultT = TypeVar("ResultT")


@dataclass
class ResultReply(Generic[ResultT]):
    """A backend result (a probe, a hidden state) with how it was obtained."""

    result: ResultT
    attempts: int
    faults: list[FaultRecord] = field(default_factory=list)
    bytes_sent: int = 0
    cached: bool = False
    redactions: int = 0


ProbeReply = ResultReply[ProbeResult]
HiddenStateReply = ResultReply[HiddenState]


class ModelFailure(Exception):
    """Every attempt failed. ``faults`` lists them in order; the last one is the final error."""

    def __init__(self, faults: list[FaultRecord]):
        last = faults[-1]
        super().__init__(f"{last.kind}: {last.message} (after {len(faults)} attempt(s))")
        self.faults = faults


class Model:
    """A backend in a role (``local`` or ``cloud``), with retries and an optional response cache."""

    def __init__(
        self,
        backend: Backend,
        role: Agent,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        cache: "ResponseCache | None" = None,
        redactor: "Redactor | None" = None,
    ):
        self.backend = backend
        self.role = role
        self.retry = retry or RetryPolicy()
        self.cache = cache
        self.redactor = redactor
        self._sleep = sleep
        self._identity: str | None = None

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def parameters(self) -> int | None:
        return self.backend.parameters

    @property
    def prompt_style(self) -> str:
        """How the engine asks this model for a step (``few-shot`` or ``zero-shot``)."""
        return self.backend.prompt_style

    @property
    def honours_grammar(self) -> bool:
        """Whether the backend decodes under a request's grammar."""
        return self.backend.honours_grammar

    @property
    def identity(self) -> str:
        """What identifies the model's replies: its file's SHA-256 (or its name, for an endpoint)
        and its reply-relevant settings (see :mod:`adaswitch.identity`); computed once."""
        if self._identity is None:
            self._identity = backend_identity(self.backend)
        return self._identity

    def complete(self, request: CompletionRequest) -> Reply:
        request, redactions = self._redact(request)
        sent = _bytes_sent(request.messages)
        key = self._cache_key("complete", request, request.temperature == 0 or request.seed is not None)
        if key and (hit := self.cache.get(key)) is not None:  # type: ignore[union-attr]
            return Reply(Completion.model_validate_json(hit), 1, [], sent, cached=True, redactions=redactions)
        completion, attempts, faults = self._with_retries(lambda: self.backend.complete(request))
        if key:
            self.cache.put(key, completion.model_dump_json())  # type: ignore[union-attr]
        return Reply(completion, attempts, faults, sent, redactions=redactions)

    def probe(self, request: ProbeRequest) -> ProbeReply:
        request, redactions = self._redact(request)
        sent = _bytes_sent(request.messages)
        key = self._cache_key("probe", request, True)
        if key and (hit := self.cache.get(key)) is not None:  # type: ignore[union-attr]
            return ProbeReply(ProbeResult.model_validate_json(hit), 1, [], sent, cached=True, redactions=redactions)
        result, attempts, faults = self._with_retries(lambda: self.backend.probe(request))
        if key:
            self.cache.put(key, result.model_dump_json())  # type: ignore[union-attr]
        return ProbeReply(result, attempts, faults, sent, redactions=redactions)

    def hidden_state(self, request: HiddenStateRequest) -> HiddenStateReply:
        """The final hidden state at the prompt's last token (never cached: it is a large vector)."""
        request, redactions = self._redact(request)
        sent = _bytes_sent(request.messages)
        result, attempts, faults = self._with_retries(lambda: self.backend.hidden_state(request))
        return HiddenStateReply(result, attempts, faults, sent, redactions=redactions)

    def _redact(self, request):  # noqa: ANN001, ANN202 - same request type in and out
        if self.redactor is None:
            return request, 0
        messages, count = self.redactor.redact_messages(request.messages)
        return (request.model_copy(update={"messages": messages}) if count else request), count

    def _cache_key(self, kind: str, request: CompletionRequest | ProbeRequest, deterministic: bool) -> str | None:
        if self.cache is None or not deterministic:
            return None
        return self.cache.key(self.identity, kind, request)

    def _with_retries(self, call):  # noqa: ANN001, ANN202 - generic over the call kinds
        faults: list[FaultRecord] = []
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return call(), attempt, faults
            except BackendError as error:
                last = attempt == self.retry.max_attempts or not error.retryable
                faults.append(
                    FaultRecord(
                        agent=self.role,
                        kind=error.kind,
                        message=error.message,
                        attempt=attempt,
                        outcome="gave_up" if last else "retried",
                    )
                )
                if last:
                    raise ModelFailure(faults) from error
                self._sleep(self.retry.delay(attempt, error))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.backend.close()


def _bytes_sent(messages: list) -> int:
    return sum(len(message.content.encode("utf-8")) for message in messages)
