"""The chain-of-thought baseline: one model, one plain prompt, no tools and no step format.

It measures what the Thought/Action format costs a model: the same question is put to the same
model with an ordinary "think step by step, then give the answer" prompt, the answer is read from
the free text by :func:`adaswitch.parsing.extract_answer_from_text` (how it was read is recorded;
a math text with no answer gives no answer; a QA reply with no answer phrase is read as its last
line, a fallback: small models often reply with the bare span), and the result is a normal
:class:`Trace` of one step, so records, metrics and reports treat it like any other method.

Status: a reply cut by the token budget reads ``max_steps`` (the analogue of running out of steps);
its answer, if one can still be read, counts as a ``fallback``. A failed model call gives an
``error`` trace; the baseline never falls back to the other model, which would mix two models.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from adaswitch.backends.base import CompletionRequest, Message
from adaswitch.documents import Document
from adaswitch.model import Model, ModelFailure, Reply, call_record
from adaswitch.grammar import AnswerType
from adaswitch.parsing import extract_answer_from_text
from adaswitch.prompts import paragraph_prompts_for
from adaswitch.actions import Action
from adaswitch.trace import AnswerSource, FaultRecord, StepRecord, Trace

COT_MODE = "cot"
DEFAULT_COT_MAX_TOKENS = 400

AnswerKind = AnswerType
"""What the final answer looks like: the step grammar's answer types, one spelling for both."""

_KIND_BY_BENCHMARK: dict[str, AnswerKind] = {"math500": "latex", "strategyqa": "yesno"}
NO_ANSWER = "no final answer found in the text"


@dataclass(frozen=True)
class CotSettings:
    max_tokens: int = DEFAULT_COT_MAX_TOKENS
    seed: int = 0
    answer_kind: AnswerKind | None = None
    """None: read from the family (a number for math, a short phrase for QA)."""


def answer_kind(family: str, benchmark: str | None = None) -> AnswerKind:
    """What the final answer should look like for a benchmark (or, without one, a task family)."""
    if benchmark in _KIND_BY_BENCHMARK:
        return _KIND_BY_BENCHMARK[benchmark]  # type: ignore[index]
    return "number" if family == "math" else "phrase"


def cot_messages(question: str, kind: AnswerKind, knowledge: list[Document] | None = None) -> list[Message]:
    """The baseline's prompt: instructions, then the context paragraphs (if any) and the question.

    It is the paragraph step format's prompt before its first step (one wording for both, so that
    the format and the baseline can be compared)."""
    prompts = paragraph_prompts_for("qa" if knowledge else "math", kind, knowledge)
    return prompts.step_messages(question, "", 1)[:2]


def solve_cot(
    model: Model,
    question: str,
    family: str = "math",
    knowledge: list[Document] | None = None,
    *,
    question_id: str = "",
    settings: CotSettings | None = None,
    local_model: str | None = None,
) -> Trace:
    """Answer ``question`` with one chain-of-thought completion of ``model``.

    ``local_model`` names the local model in the trace when ``model`` is the cloud one.
    """
    settings = settings or CotSettings()
    kind = settings.answer_kind or answer_kind(family)
    started = time.perf_counter()
    trace = Trace(
        id=question_id or hashlib.sha1(question.encode("utf-8")).hexdigest()[:12],
        question=question,
        family=family,
        mode=COT_MODE,
        local_model=model.name if model.role == "local" else (local_model or ""),
        cloud_model=model.name if model.role == "cloud" else None,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings={"model": model.role, "max_tokens": settings.max_tokens, "seed": settings.seed, "answer_kind": kind},
    )
    request = CompletionRequest(
        messages=cot_messages(question, kind, knowledge),
        max_tokens=settings.max_tokens,
        temperature=0.0,
        seed=settings.seed,
    )
    try:
        reply = model.complete(request)
    except ModelFailure as failure:
        trace.status, trace.error = "error", f"{model.role} model failed: {failure}"
        trace.steps = [StepRecord(index=1, author=model.role, text="", faults=_gave_up(failure.faults))]
        trace.wall_time_s = time.perf_counter() - started
        return trace
    answer, method = extract_answer_from_text(reply.completion.text, family, last_line=family == "qa")
    truncated = reply.completion.finish_reason == "length"
    step = _step(model, reply, answer)
    step.latency_s = time.perf_counter() - started
    trace.steps = [step]
    trace.answer, trace.answer_method = answer, method
    trace.answer_source = _source(method, truncated)
    trace.status = "max_steps" if truncated else "finished"
    trace.wall_time_s = time.perf_counter() - started
    return trace


def _step(model: Model, reply: Reply, answer: str | None) -> StepRecord:
    """The one step of a baseline trace: the whole text, read as a ``finish`` when it has an answer."""
    completion = reply.completion
    call = call_record(reply, model.role, "step")
    return StepRecord(
        index=1,
        author=model.role,
        text=completion.text,
        thought=completion.text.strip(),
        action=Action(tool="finish", argument=answer) if answer is not None else None,
        parse_error=None if answer is not None else NO_ANSWER,
        calls=[call],
        faults=list(reply.faults),
    )


def _source(method: str, truncated: bool) -> AnswerSource:
    """An answer the model stated (boxed, 'Answer: ...') in a finished reply counts as its finish;
    the last number of the text, or anything read from a cut reply, is a fallback."""
    if method == "none":
        return "none"
    return "finish" if method in ("boxed", "answer_phrase") and not truncated else "fallback"


def _gave_up(faults: list[FaultRecord]) -> list[FaultRecord]:
    """The last fault's outcome: the question failed (the baseline does not switch models)."""
    if not faults:
        return faults
    return faults[:-1] + [faults[-1].model_copy(update={"outcome": "failed_question"})]
