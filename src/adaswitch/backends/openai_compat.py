"""A backend for any OpenAI-compatible chat endpoint (vLLM, Ollama, OpenAI, DeepSeek, ...).

Each call is made once: the SDK's own retries are switched off, and every failure comes out as a
typed :class:`BackendError` so that the wrapper above can retry and record each attempt.

Continuing an unfinished assistant message (``continue_final``) has two modes:

* ``"fold"`` (default, works with any chat API): the partial assistant text is appended to the
  last user message after a header line, followed by a one-line instruction to continue it (see
  :func:`fold_partial`). If the reply still starts by repeating the end of the partial text, that
  repetition is removed.
* ``"continue"``: the assistant message is sent last, with vLLM's
  ``continue_final_message=True, add_generation_prompt=False`` request fields.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from typing import Any, Literal

from adaswitch.backends.base import (
    Backend,
    BackendError,
    Completion,
    CompletionRequest,
    FinishReason,
    Message,
    TokenLogprob,
)

PrefixMode = Literal["fold", "continue"]

MAX_SENT_STOPS = 4
"""OpenAI rejects more stop strings than this; the rest are enforced on the returned text."""

FOLD_HEADER = "Your unfinished answer so far:"
FOLD_INSTRUCTION = (
    "Continue the unfinished answer from exactly where it stops; reply with the continuation only."
)
MIN_REPEAT_CHARS = 4
"""Shortest repeated tail of the partial text that is stripped from a folded reply."""

CONTINUE_FIELDS: dict[str, Any] = {"continue_final_message": True, "add_generation_prompt": False}
GRAMMAR_FIELDS: tuple[str, ...] = ("grammar", "guided_grammar")
"""Request body fields that carry a GBNF grammar: llama.cpp's server and vLLM's guided decoding."""


class OpenAIBackend(Backend):
    """One model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        prefix_mode: PrefixMode = "fold",
        extra_body: dict[str, Any] | None = None,
        name: str | None = None,
        parameters: int | None = None,
        grammar_field: Literal["grammar", "guided_grammar"] | None = None,
    ):
        """``grammar_field`` names the body field that carries a request's GBNF grammar
        (``grammar`` for llama.cpp's server, ``guided_grammar`` for vLLM); without it grammars are
        not sent and :attr:`honours_grammar` is false."""
        if prefix_mode not in ("fold", "continue"):
            raise ValueError(f"prefix_mode must be 'fold' or 'continue', not {prefix_mode!r}")
        if grammar_field is not None and grammar_field not in GRAMMAR_FIELDS:
            raise ValueError(f"grammar_field must be one of {', '.join(GRAMMAR_FIELDS)} or None, not {grammar_field!r}")
        self.grammar_field = grammar_field
        self.honours_grammar = grammar_field is not None
        import openai  # lazy: only this backend needs the SDK

        self._openai = openai
        self.model = model
        self.name = name or model
        self.parameters = parameters
        self.prefix_mode: PrefixMode = prefix_mode
        self.extra_body = dict(extra_body or {})
        self.timeout_s = timeout_s
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )

    def identity_settings(self) -> dict[str, Any]:
        return {"base_url": str(self._client.base_url), "model": self.model, "prefix_mode": self.prefix_mode,
                "extra_body": self.extra_body, "grammar_field": self.grammar_field}

    def complete(self, request: CompletionRequest) -> Completion:
        """Send one chat completion request; raise :class:`BackendError` on any failure."""
        messages, extra_body = self._shape(request)
        kwargs = self._request_kwargs(request, messages, extra_body)
        start = time.perf_counter()
        data = self._post(kwargs)
        latency = time.perf_counter() - start
        return self._completion(request, messages, data, latency)

    def close(self) -> None:
        self._client.close()

    # -- request ---------------------------------------------------------------------------

    def _shape(self, request: CompletionRequest) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """Wire messages and extra body fields for this request and prefix mode."""
        messages = [m.model_dump() for m in request.messages]
        if not request.continue_final:
            return messages, dict(self.extra_body)
        if not request.messages or request.messages[-1].role != "assistant":
            raise BackendError(
                "client_error", "continue_final needs a final assistant message", retryable=False
            )
        if self.prefix_mode == "continue":
            return messages, {**self.extra_body, **CONTINUE_FIELDS}
        return fold_partial(request.messages), dict(self.extra_body)

    def _request_kwargs(
        self, request: CompletionRequest, messages: list[dict[str, str]], extra_body: dict[str, Any]
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        stops = [s for s in request.stop if s][:MAX_SENT_STOPS]
        if stops:
            kwargs["stop"] = stops
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.logprobs:
            kwargs["logprobs"] = True
            if request.top_logprobs > 0:
                kwargs["top_logprobs"] = request.top_logprobs
        if request.grammar is not None and self.grammar_field is not None:
            extra_body = {**extra_body, self.grammar_field: request.grammar}
        if extra_body:
            kwargs["extra_body"] = extra_body
        return kwargs

    def _post(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Make the HTTP call and return the decoded JSON body."""
        try:
            raw = self._client.chat.completions.with_raw_response.create(**kwargs)
        except self._openai.OpenAIError as exc:
            raise map_error(exc, self._openai, self.timeout_s) from exc
        return decode_body(raw.http_response.content)

    # -- response --------------------------------------------------------------------------

    def _completion(
        self,
        request: CompletionRequest,
        messages: list[dict[str, str]],
        data: dict[str, Any],
        latency: float,
    ) -> Completion:
        choice = first_choice(data)
        raw_text: str = choice["message"]["content"]
        try:
            logprobs = parse_logprobs(choice.get("logprobs"))
            prompt_tokens, completion_tokens, cached = usage_counts(data.get("usage"), messages, raw_text)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            message = f"malformed logprobs or usage: {exc!r}"[:200]
            raise BackendError("bad_response", message, retryable=True) from exc
        start = 0
        if request.continue_final and self.prefix_mode == "fold":
            start = repeated_prefix_length(request.messages[-1].content, raw_text)
        end = stop_cut(raw_text, request.stop, start)
        finish: FinishReason = "length" if choice.get("finish_reason") == "length" else "stop"
        if end < len(raw_text):
            finish = "stop"
        return Completion(
            text=raw_text[start:end],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            recomputed_prompt_tokens=max(0, prompt_tokens - cached),
            finish_reason=finish,
            latency_s=latency,
            logprobs=slice_logprobs(logprobs, start, end) if logprobs is not None else None,
        )


# -- message folding --------------------------------------------------------------------------


def fold_partial(messages: list[Message]) -> list[dict[str, str]]:
    """Fold a final, unfinished assistant message into the user message before it.

    The user message becomes ``<user text>\\n\\n<FOLD_HEADER>\\n<partial>\\n\\n<FOLD_INSTRUCTION>``;
    when no user message directly precedes the partial one, a new user message carries the fold.
    An empty partial message is simply dropped (the request becomes a fresh assistant turn).
    """
    *head, partial = messages
    wire = [m.model_dump() for m in head]
    if not partial.content:
        return wire
    fold = f"{FOLD_HEADER}\n{partial.content}\n\n{FOLD_INSTRUCTION}"
    if wire and wire[-1]["role"] == "user":
        wire[-1] = {"role": "user", "content": f"{wire[-1]['content']}\n\n{fold}"}
    else:
        wire.append({"role": "user", "content": fold})
    return wire


def repeated_prefix_length(partial: str, reply: str) -> int:
    """Length of the start of ``reply`` that merely repeats the end of ``partial`` (0 if none).

    Leading whitespace of the reply and trailing whitespace of the partial text are ignored. The
    repeated piece must be at least ``MIN_REPEAT_CHARS`` long and begin at a word boundary of the
    partial text (or be all of it), so that a genuine continuation is kept.
    """
    tail = partial.rstrip()
    lead = len(reply) - len(reply.lstrip())
    body = reply[lead:]
    for k in range(min(len(tail), len(body)), 0, -1):
        if body[k - 1] != tail[-1] or not tail.endswith(body[:k]):
            continue
        if k < MIN_REPEAT_CHARS:
            return 0
        if k == len(tail) or not (tail[-k - 1].isalnum() and body[0].isalnum()):
            return lead + k
    return 0


# -- stops ------------------------------------------------------------------------------------


def stop_cut(text: str, stops: list[str], start: int = 0) -> int:
    """Index in ``text`` where the earliest stop string at or after ``start`` begins."""
    end = len(text)
    for stop in stops:
        if stop:
            at = text.find(stop, start)
            if at != -1:
                end = min(end, at)
    return end


# -- response parsing -------------------------------------------------------------------------


def decode_body(content: bytes) -> dict[str, Any]:
    """The JSON object of a 200 response, or a retryable ``bad_response`` error."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise BackendError(
            "bad_response", f"200 with a body that is not JSON: {_preview(content)}", retryable=True
        ) from None
    if not isinstance(data, dict):
        raise BackendError("bad_response", f"200 with a non-object body: {_preview(content)}", retryable=True)
    return data


def first_choice(data: dict[str, Any]) -> dict[str, Any]:
    """The first choice of a completion object, checked to carry text content."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError("bad_response", "response has no choices", retryable=True)
    message = choices[0].get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise BackendError("bad_response", "response message has no text content", retryable=True)
    return choices[0]


def parse_logprobs(raw: Any) -> list[TokenLogprob] | None:
    """Per-token log-probs (with their top-k dicts) from a choice's ``logprobs`` field."""
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return None
    tokens = []
    for item in raw["content"]:
        top = {t["token"]: logprob_value(t["logprob"]) for t in item.get("top_logprobs") or []}
        tokens.append(TokenLogprob(token=item["token"], logprob=logprob_value(item["logprob"]), top=top))
    return tokens or None


def slice_logprobs(tokens: list[TokenLogprob], start: int, end: int) -> list[TokenLogprob]:
    """Tokens overlapping the character span ``[start, end)`` of their concatenated text."""
    kept, pos = [], 0
    for token in tokens:
        token_end = pos + len(token.token)
        if token_end > start and pos < end:
            kept.append(token)
        pos = token_end
    return kept


def usage_counts(usage: Any, messages: list[dict[str, str]], text: str) -> tuple[int, int, int]:
    """Prompt, completion and cached prompt tokens; estimated at four characters a token when
    the server sends no usage."""
    if not isinstance(usage, dict):
        prompt_chars = sum(len(m["content"]) for m in messages)
        return prompt_chars // 4, len(text) // 4, 0
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return prompt, completion, cached


def logprob_value(value: Any) -> float:
    """A log-prob as a float; servers send ``-inf`` as null or a huge negative number."""
    return -math.inf if value is None else float(value)


# -- errors -----------------------------------------------------------------------------------


def map_error(exc: Exception, openai: Any, timeout_s: float | None = None) -> BackendError:
    """Translate an ``openai`` SDK exception into a typed :class:`BackendError`."""
    if isinstance(exc, openai.APITimeoutError):
        limit = f" after {timeout_s:g} s" if timeout_s is not None else ""
        return BackendError("timeout", f"no response{limit}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.response.headers, exc.response.content)
    if isinstance(exc, openai.APIConnectionError):
        cause = _root_cause(exc)
        if _is_truncated_body(exc):
            return BackendError("bad_response", f"truncated response body ({cause})", retryable=True)
        return BackendError("connection", cause, retryable=True)
    return BackendError("bad_response", f"{type(exc).__name__}: {str(exc)[:200]}", retryable=True)


def status_error(code: int, headers: Any, body: bytes) -> BackendError:
    """The error for an HTTP status other than 2xx."""
    message = f"HTTP {code}: {error_text(body)}"
    if code == 429:
        retry_after = parse_retry_after_ms(headers.get("retry-after-ms"))
        if retry_after is None:
            retry_after = parse_retry_after(headers.get("retry-after"))
        return BackendError("rate_limit", message, retryable=True, retry_after_s=retry_after)
    if code >= 500:
        return BackendError("server_error", message, retryable=True)
    if code in (401, 403):
        return BackendError("auth", message, retryable=False)
    if code == 404:
        return BackendError("not_found", message, retryable=False)
    return BackendError("client_error", message, retryable=False)


def parse_retry_after_ms(value: str | None) -> float | None:
    """Seconds to wait from OpenAI's ``retry-after-ms`` header."""
    try:
        return max(0.0, float(value) / 1000) if value else None
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's message, short (``ConnectError: [Errno 111] ...``)."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    return f"{type(inner).__name__}: {str(inner)[:200]}" if str(inner) else type(inner).__name__


def _is_truncated_body(exc: BaseException) -> bool:
    """Whether a transport error says the body ended before its announced length."""
    inner: BaseException | None = exc
    while inner is not None:
        if "complete message body" in str(inner):
            return True
        inner = inner.__cause__ or inner.__context__
    return False


def error_text(body: bytes) -> str:
    """The message of a JSON error body (OpenAI ``error.message``, vLLM ``message``, Ollama
    ``error``), else the start of the body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _preview(body)
    if not isinstance(data, dict):
        return _preview(body)
    error = data.get("error")
    for message in (error.get("message") if isinstance(error, dict) else error, data.get("message")):
        if isinstance(message, str) and message:
            return message[:200]
    return _preview(body)


def _preview(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:limit] if text else "(empty body)"
