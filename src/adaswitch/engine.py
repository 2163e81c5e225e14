"""The collaboration loop: the local agent proposes each step; a policy decides who writes it.

For every step the local agent writes a proposal; the proposal is parsed and its tool is run (tools
are exact and side-effect free); its probability of error is estimated (1 for an unreadable action
or a failing tool); then the policy keeps it, asks the cloud agent to write that step from the same
trajectory, or has the local agent redo it. Control always returns to the local agent.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

from adaswitch.actions import Action, ParsedStep, ToolResult
from adaswitch.backends.base import Completion, CompletionRequest, Message
from adaswitch.documents import Document
from adaswitch.grammar import AnswerType, action_grammar, answer_type_for, step_grammar
from adaswitch.introspection import Introspector, Judgment, StepView, forced_error
from adaswitch.introspection.consistency import step_outcome
from adaswitch.introspection.features import step_features
from adaswitch.model import HiddenStateReply, Model, ModelFailure, ProbeReply, Reply, call_record
from adaswitch.parsing import extract_answer_from_text, parse_step, read_paragraph, render_step
from adaswitch.policies import Policy
from adaswitch.prompts import STEP_FORMATS, TaskPrompts, prompts_in_style, task_prompts
from adaswitch.tools import Toolbox, math_toolbox, qa_toolbox
from adaswitch.tools.python_runner import OUTPUT_FENCE, output_block, program_before_output, run_program
from adaswitch.trace import Agent, CallRecord, FaultRecord, Proposal, StepRecord, Trace
from adaswitch.trajectory import append_step, final_answer, is_finish, is_plain_number, render_trajectory

MAX_REPAIRS = 2
"""Repairing takeovers per question: each rewrites earlier steps, so they are bounded to keep the
number of written steps bounded."""
FIRST_TOKEN_ALTERNATIVES = 5
"""Top alternatives asked per token when a signal reads log-probabilities (the first tokens'
entropy, :func:`adaswitch.introspection.features.token_features`)."""
ACTION_TOKENS = 64
"""Token budget of an action decoded on its own after a thought that used up the step's tokens."""
_LEADING_LABEL = re.compile(r"^\s*Thought\s*\d*\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class EngineSettings:
    max_steps: int = 10
    max_step_tokens: int = 160
    on_cloud_error: Literal["fallback", "fail"] = "fallback"
    retry_temperature: float = 0.7
    seed: int = 0
    score_all_steps: bool = False
    """Estimate the probability of error of local steps even when the mode does not use it."""
    constrain: bool = True
    """Decode each step under the step grammar (:mod:`adaswitch.grammar`) where the backend can."""
    waste_retries: int = 2
    """How often a wasted step (a repeated call, a known value) is re-sampled before it is kept."""
    step_format: str = "react"
    """``react`` (Thought / Action / Observation with tools) or ``paragraphs`` (plain chain of
    thought, one paragraph per step; :class:`adaswitch.prompts.ParagraphPrompts`)."""
    run_code: bool = False
    """Paragraph format, math: run the python a step writes and show its real output
    (:mod:`adaswitch.tools.python_runner`) instead of letting the model write one."""

    def __post_init__(self) -> None:
        if self.step_format not in STEP_FORMATS:
            raise ValueError(f"unknown step format {self.step_format!r}; expected one of {', '.join(STEP_FORMATS)}")


@dataclass
class Candidate:
    """A step written by one agent, parsed, with its tool already run."""

    author: Agent
    raw: str
    parsed: ParsedStep
    result: ToolResult | None
    text: str
    completion: Completion
    calls: list[CallRecord]
    faults: list[FaultRecord]
    judgment: Judgment | None = None
    request: CompletionRequest | None = None
    """The request that wrote the step (a re-sampling signal sends it again)."""

    @property
    def p_error(self) -> float | None:
        return self.judgment.p_error if self.judgment else None

    def proposal(self) -> Proposal:
        return Proposal(
            author=self.author,
            text=self.text,
            thought=self.parsed.thought,
            action=self.parsed.action,
            parse_error=self.parsed.error,
            observation=self.result.text if self.result else "",
            tool_ok=self.result.ok if self.result else True,
            p_error=self.p_error,
            features=dict(self.judgment.features) if self.judgment else {},
        )


@dataclass
class _Run:
    """The state of one question being solved."""

    question: str
    prompts: TaskPrompts
    toolbox: Toolbox
    rng: random.Random
    trajectory: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    hint: str | None = None
    """Shown to the cloud agent only, after the question (annotation of training questions)."""
    answer_type: AnswerType = "number"
    fixed: int = 0
    """Steps given as a prefix: committed by the caller, never revised."""
    repairs: int = 0
    """Repairing takeovers so far (at most :data:`MAX_REPAIRS` per question)."""
    seed: int = 0
    """The seed of this question's sampling (re-samples, random switching)."""
    temperature: float = 0.7
    """The temperature of this question's sampled writes (re-samples, self-reflection retries)."""
    budget: "TokenBudget | None" = None
    """What the agents may still write in all; None: no bound. Shared by the copies of the run a
    review makes, so every written token is counted once."""

    def cap(self, limit: int) -> int:
        """The tokens the next call may write: ``limit``, within the question's budget."""
        return limit if self.budget is None else self.budget.cap(limit)

    @property
    def out_of_tokens(self) -> bool:
        return self.budget is not None and self.budget.left <= 0


@dataclass
class TokenBudget:
    """Completion tokens the agents may still write for one question."""

    left: int

    def spend(self, calls: list[CallRecord]) -> None:
        self.left -= sum(call.completion_tokens for call in calls)

    def cap(self, limit: int) -> int:
        """``limit`` tokens for the next call, or what is left if that is less (at least 1)."""
        return max(1, min(limit, self.left))


class QuestionFailed(Exception):
    def __init__(self, message: str, faults: list[FaultRecord]):
        super().__init__(message)
        self.faults = faults


StepCallback = Callable[[StepRecord], None]


class Collaboration:
    """Solves questions with a local model, an optional cloud model, a policy and an introspection signal."""

    def __init__(
        self,
        local: Model,
        cloud: Model | None,
        policy: Policy,
        introspector: Introspector | None = None,
        settings: EngineSettings | None = None,
    ):
        if policy.needs_cloud and cloud is None:
            raise ValueError(f"mode {policy.mode!r} needs a cloud model")
        if policy.needs_probability and introspector is None:
            raise ValueError(f"mode {policy.mode!r} needs an introspection signal")
        self.local = local
        self.cloud = cloud
        self.policy = policy
        self.introspector = introspector
        self.settings = settings or EngineSettings()

    def solve(
        self,
        question: str,
        family: str = "math",
        knowledge: list[Document] | None = None,
        question_id: str = "",
        on_step: StepCallback | None = None,
        *,
        prefix: list[StepRecord] | None = None,
        max_new_steps: int | None = None,
        cloud_hint: str | None = None,
        answer_type: str | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Trace:
        """Solve ``question``; the trace records every step, call and fault.

        ``prefix`` continues a trajectory from committed steps (the learning stage's examination
        resumes after a corrected step); ``max_new_steps`` stops after that many new steps (the trace
        then reads ``max_steps`` unless it finished); ``cloud_hint`` is added after the question in
        the cloud agent's prompts only (annotation with the gold answer during self-practice);
        ``answer_type`` is what a ``finish`` may hold (:data:`adaswitch.grammar.AnswerType`; by
        default the family's: a number for math, a phrase for QA); ``seed`` replaces the settings'
        seed for this question, ``temperature`` the settings' ``retry_temperature`` (the steps are
        written greedily; re-samples and retries sample); ``max_tokens`` bounds the completion tokens the agents write in all
        (steps, re-samples, reviews; not the judgments): each step may write at most what is left,
        and once nothing is left the trace ends with status ``max_tokens``.
        """
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        started = time.perf_counter()
        trace = Trace(
            id=question_id or hashlib.sha1(question.encode("utf-8")).hexdigest()[:12],
            question=question,
            family=family,
            mode=self.policy.mode,
            threshold=self.policy.threshold,
            introspection=self.introspector.name if self.introspector else None,
            local_model=self.local.name,
            cloud_model=self.cloud.name if self.cloud else None,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            settings=self._settings_record(),
        )
        toolbox = qa_toolbox_or_error(knowledge) if family == "qa" else math_toolbox()
        kind = answer_type_for(family, answer_type)
        prompts = task_prompts(self.settings.step_format, family, kind, knowledge)
        # a seed given with the question draws the same for the same question whatever its id (a
        # server request's id is unique); otherwise the draws follow the question's id, as always
        draws = f"{seed}:{hashlib.sha1(question.encode('utf-8')).hexdigest()}" if seed is not None else None
        seed = self.settings.seed if seed is None else seed
        run = _Run(question, prompts, toolbox, random.Random(draws or f"{seed}:{trace.id}"), seed=seed,
                   temperature=self.settings.retry_temperature if temperature is None else temperature,
                   budget=TokenBudget(max_tokens) if max_tokens is not None else None)
        run.hint = cloud_hint
        run.answer_type = kind
        for step in prefix or []:
            run.steps.append(step.model_copy(deep=True))
            run.trajectory = append_step(run.trajectory, step, prompts.separator)
        trace.steps = run.steps
        try:
            self._loop(run, trace, on_step, max_new_steps)
        except QuestionFailed as failure:
            trace.status = "error"
            trace.error = str(failure)
            if failure.faults:
                run.steps.append(
                    StepRecord(index=len(run.steps) + 1, author="local", text="", faults=failure.faults)
                )
        trace.wall_time_s = time.perf_counter() - started
        return trace

    def _loop(self, run: _Run, trace: Trace, on_step: StepCallback | None, max_new_steps: int | None) -> None:
        if run.steps and is_finish(run.steps[-1]):
            raise ValueError("the prefix already ends with a finish step")
        first = len(run.steps) + 1
        run.fixed = first - 1
        last = self.settings.max_steps if max_new_steps is None else min(self.settings.max_steps, first + max_new_steps - 1)
        index = first
        while index <= last:
            step = self._step(run, index)
            if step.index < index:  # the cloud repaired the path: it rewrote from an earlier step
                del run.steps[step.index - 1:]
                run.trajectory = render_trajectory(run.steps, run.prompts.separator)
            index = step.index + 1
            run.steps.append(step)
            run.trajectory = append_step(run.trajectory, step, run.prompts.separator)
            if on_step:
                on_step(step)
            if is_finish(step):
                trace.answer, trace.answer_method = final_answer(step.action.argument, trace.family)
                trace.answer_source = "finish"
                return
            if run.out_of_tokens:
                break
        trace.status = "max_tokens" if run.out_of_tokens else "max_steps"
        # read the last step's thought, not its text: "Thought 3:" must not give the answer 3
        last = run.steps[-1].thought if run.steps else ""
        answer, method = extract_answer_from_text(last, trace.family)
        if answer is not None:
            trace.answer, trace.answer_source, trace.answer_method = answer, "fallback", method

    def _step(self, run: _Run, index: int) -> StepRecord:
        started = time.perf_counter()
        if self.policy.cloud_writes_everything:
            record = self._cloud_only_step(run, index)
        else:
            record = self._collaborative_step(run, index)
        record.latency_s = time.perf_counter() - started
        return record

    def _collaborative_step(self, run: _Run, index: int) -> StepRecord:
        if self.policy.mode == "handoff" and index in self.policy.cloud_steps:
            return self._cloud_only_step(run, index)
        proposal, calls, faults, wasted = self._write_unwasted(self.local, run, index)
        if self.policy.needs_probability or self.settings.score_all_steps:
            self._judge(run, index, proposal, calls)
        cloud_so_far = sum(step.author == "cloud" for step in run.steps)
        decision = self.policy.decide(proposal.p_error, run.rng, index, cloud_so_far)
        if decision == "keep":
            return _record(index, proposal, calls, faults, wasted=wasted)
        if decision == "retry":
            return self._reflect(run, index, proposal, calls, faults)
        at, revised, rewritten = index, [], None
        if self.policy.repair_back and run.repairs < MAX_REPAIRS:
            at, rewritten = self._review(run, index, calls, faults)
            if at < index:
                run.repairs += 1
                revised = run.steps[at - 1:]
                calls = [call for step in revised for call in step.calls] + calls
        if rewritten is not None:
            # the cloud's own version of the earlier step is the repair: no second call for it
            replacement, cloud_calls, cloud_faults, cloud_wasted = rewritten, [], [], []
        else:
            try:
                replacement, cloud_calls, cloud_faults, cloud_wasted = self._write_unwasted(self.cloud, run, at)  # type: ignore[arg-type]
            except ModelFailure as failure:
                return self._cloud_failed(index, proposal, calls, faults + failure.faults)
        record = _record(at, replacement, calls + cloud_calls, faults + cloud_faults, p_error=proposal.p_error,
                         wasted=wasted + cloud_wasted)
        record.switched = True
        record.replaced = [proposal.proposal()]
        record.revised = [_as_proposal(step) for step in revised]
        return record

    def _review(
        self, run: _Run, index: int, calls: list[CallRecord], faults: list[FaultRecord]
    ) -> tuple[int, Candidate | None]:
        """Where the cloud's takeover starts, and its rewritten step when that is earlier than ``index``.

        The cloud writes its own version of each of the ``repair_back`` local steps before ``index``
        (never a prefix step; earliest first) from the steps before it; the first whose version does
        something else (another calculated value, another answer, another query, a paragraph's
        other last number: :func:`~adaswitch.introspection.consistency.step_outcome`) is judged
        wrong, and the cloud's version replaces it. A version that cannot be compared (nothing to
        compare, a failing tool, a repeated call) judges nothing. The versions are ``review`` calls, paid for like any other; a cloud
        that cannot answer leaves the path as it is (its faults are kept)."""
        family = run.prompts.family
        for k in range(max(run.fixed + 1, index - self.policy.repair_back), index):
            step = run.steps[k - 1]
            mine = step_outcome(step.thought, step.action, family) if step.author == "local" else None
            if mine is None:
                continue
            before = replace(run, steps=run.steps[:k - 1],
                             trajectory=render_trajectory(run.steps[:k - 1], run.prompts.separator))
            try:
                version = self._write(self.cloud, before, k, purpose="review")  # type: ignore[arg-type]
            except ModelFailure as failure:
                faults.extend(_mark(failure.faults, "no_repair"))
                return index, None
            calls.extend(version.calls)
            faults.extend(version.faults)
            theirs = step_outcome(version.parsed.thought, version.parsed.action, family)
            if theirs is None or wasted_step(version.parsed, version.result, before.steps):
                continue
            if theirs != mine:
                return k, version
        return index, None

    def _cloud_only_step(self, run: _Run, index: int) -> StepRecord:
        try:
            step, calls, faults, wasted = self._write_unwasted(self.cloud, run, index)  # type: ignore[arg-type]
        except ModelFailure as failure:
            if self.settings.on_cloud_error == "fail":
                raise QuestionFailed(f"cloud agent failed: {failure}", _mark(failure.faults, "failed_question"))
            local, calls, faults, wasted = self._write_unwasted(self.local, run, index)
            return _record(index, local, calls, _mark(failure.faults, "fell_back_to_local") + faults, wasted=wasted)
        return _record(index, step, calls, faults, wasted=wasted)

    def _write_unwasted(
        self, model: Model, run: _Run, index: int
    ) -> tuple[Candidate, list[CallRecord], list[FaultRecord], list[Proposal]]:
        """Write a step; while it is wasted (:func:`wasted_step`) re-sample it, at most
        ``waste_retries`` times; when every re-sample is wasted too and the step is decoded under the
        grammar, write it once more with ``finish`` as the only action (greedy): a model that repeats
        a search or a calculation after seeing its result is asked for its answer. Returns the step
        kept, every call and fault, and the discarded proposals. When every try is wasted the first
        one is kept (its judgment forces p = 1 when it repeats a call)."""
        tried: list[Candidate] = []
        kept: Candidate | None = None
        for attempt in range(self.settings.waste_retries + 1):
            if attempt == 0:
                candidate = self._write(model, run, index)
            else:
                seed = run.seed * 100_003 + index * 101 + 50 + attempt
                candidate = self._write(model, run, index, run.temperature, seed, purpose="resample")
            tried.append(candidate)
            if not wasted_step(candidate.parsed, candidate.result, run.steps):
                kept = candidate
                break
        if kept is None and self._constrained(model, run):
            # the model keeps repeating itself after what it found: the step must answer instead
            candidate = self._write(model, run, index, purpose="resample", finish_only=True)
            tried.append(candidate)
            if not wasted_step(candidate.parsed, candidate.result, run.steps):
                kept = candidate
        kept = kept or tried[0]
        calls = [call for c in tried for call in c.calls]
        faults = [fault for c in tried for fault in c.faults]
        return kept, calls, faults, [c.proposal() for c in tried if c is not kept]

    def _cloud_failed(self, index: int, proposal: Candidate, calls: list[CallRecord], faults: list[FaultRecord]) -> StepRecord:
        if self.settings.on_cloud_error == "fail":
            raise QuestionFailed("cloud agent failed: " + faults[-1].message, _mark(faults, "failed_question"))
        return _record(index, proposal, calls, _mark(faults, "fell_back_to_local"))

    def _reflect(
        self, run: _Run, index: int, first: Candidate, calls: list[CallRecord], faults: list[FaultRecord]
    ) -> StepRecord:
        tried = [first]
        for attempt in range(1, self.policy.max_retries + 1):
            seed = run.seed * 100_003 + index * 101 + attempt
            retry = self._write(self.local, run, index, run.temperature, seed, purpose="retry")
            calls.extend(retry.calls)
            faults += retry.faults
            self._judge(run, index, retry, calls)
            tried.append(retry)
            if retry.p_error is not None and self.policy.threshold is not None and retry.p_error <= self.policy.threshold:
                break
        best = min(tried, key=lambda c: c.p_error if c.p_error is not None else 1.0)
        record = _record(index, best, calls, faults, p_error=first.p_error)
        record.switched = best is not first
        record.replaced = [c.proposal() for c in tried if c is not best]
        return record

    def _write(
        self,
        model: Model,
        run: _Run,
        index: int,
        temperature: float = 0.0,
        seed: int | None = None,
        purpose: Literal["step", "retry", "resample", "review"] = "step",
        finish_only: bool = False,
    ) -> Candidate:
        want_logprobs = model.role == "local" and bool(self.introspector and self.introspector.needs_logprobs)
        question = run.question
        if run.hint and model.role == "cloud":
            question = f"{run.question}\n\n{run.hint}"
        constrained = self._constrained(model, run)
        grammar = step_grammar(run.prompts.family, index, run.answer_type, finish_only=finish_only) if constrained else None
        prompts = prompts_in_style(run.prompts, model.prompt_style)
        request = CompletionRequest(
            messages=prompts.step_messages(question, run.trajectory, index),
            continue_final=True,
            max_tokens=run.cap(self.settings.max_step_tokens),
            temperature=temperature,
            stop=self._stops(run, index),
            logprobs=want_logprobs,
            top_logprobs=FIRST_TOKEN_ALTERNATIVES if want_logprobs else 0,
            seed=seed if seed is not None else run.seed,
            grammar=grammar,
        )
        reply = self._complete(model, request)
        completion = reply.completion
        calls = [call_record(reply, model.role, purpose, constrained=constrained)]
        faults = list(reply.faults)
        if (constrained and completion.finish_reason == "length" and f"Action {index}:" not in completion.text
                and (run.budget is None or run.budget.left > completion.completion_tokens)):
            completion, action_reply = self._complete_action(model, run, request, completion, index)
            calls.append(call_record(action_reply, model.role, "action", constrained=True))
            faults += action_reply.faults
        if run.prompts.step_format == "paragraphs" and announces_more(completion):
            completion, more = self._complete_paragraph(model, run, request, completion)
            calls += [call_record(r, model.role, purpose) for r in more]
            faults += [f for r in more for f in r.faults]
        if self._runs_code(run):
            completion = _with_program_output(completion, run.trajectory)
        if run.budget is not None:
            run.budget.spend(calls)
        if run.prompts.step_format == "paragraphs":
            raw, parsed, text = read_paragraph_step(completion.text, run.trajectory, run.prompts.family)
        else:
            raw, parsed, text = read_step(completion.text, index, run.prompts.family)
        result = _run_tool(run.toolbox, parsed)
        return Candidate(model.role, raw, parsed, result, text, completion, calls, faults, request=request)

    def _runs_code(self, run: _Run) -> bool:
        return self.settings.run_code and run.prompts.step_format == "paragraphs" and run.prompts.family == "math"

    def _stops(self, run: _Run, index: int) -> list[str]:
        """Where a step stops: the format's stops, and where a model would begin its code's output
        when the engine runs the code instead."""
        stops = run.prompts.stops(index)
        return [*stops, OUTPUT_FENCE] if self._runs_code(run) else stops

    def _complete_paragraph(
        self, model: Model, run: _Run, request: CompletionRequest, completion: Completion
    ) -> tuple[Completion, list[Reply]]:
        """Go on writing a paragraph step that only announces what follows (it ends in a colon: "we
        need to follow these steps:"), so that every step does something: the next paragraph joins
        it, up to :data:`PARAGRAPH_CONTINUATIONS` times and within the step's token limit."""
        replies: list[Reply] = []
        written = completion.completion_tokens
        while announces_more(completion) and len(replies) < PARAGRAPH_CONTINUATIONS:
            left = self.settings.max_step_tokens - written
            if run.budget is not None:
                left = min(left, run.budget.left - written)
            if left <= 0:
                break
            text = completion.text.rstrip() + PARAGRAPH_JOIN
            reply = self._complete(model, continued(request, text).model_copy(update={"max_tokens": left}))
            replies.append(reply)
            written += reply.completion.completion_tokens
            completion = joined_completion(completion, text, reply.completion)
        return completion, replies

    @staticmethod
    def _complete(model: Model, request: CompletionRequest) -> Reply:
        """One completion; a failure of the local agent fails the question, the cloud's goes up."""
        try:
            return model.complete(request)
        except ModelFailure as failure:
            if model.role == "local":
                raise QuestionFailed(f"local agent failed: {failure}", _mark(failure.faults, "failed_question"))
            raise

    def _constrained(self, model: Model, run: _Run) -> bool:
        """Whether ``model``'s steps are decoded under the step grammar."""
        return self.settings.constrain and model.honours_grammar and run.prompts.step_format == "react"

    def _complete_action(
        self, model: Model, run: _Run, request: CompletionRequest, first: Completion, index: int
    ) -> tuple[Completion, Reply]:
        """Give a thought that used up the step's tokens its action: ``Action N: `` follows the thought
        so far, and the action alone is decoded under its grammar (within :data:`ACTION_TOKENS`).

        Without this a long thought (a list of numbers, digits one token each) never reaches its action
        and the step is forced to p = 1; with it the step is what the model would act on next."""
        written = first.text.rstrip() + f"\nAction {index}: "
        follow = continued(request, written).model_copy(update={
            "max_tokens": ACTION_TOKENS if run.budget is None
            else max(1, min(ACTION_TOKENS, run.budget.left - first.completion_tokens)),
            "grammar": action_grammar(run.prompts.family, run.answer_type),
        })
        reply = self._complete(model, follow)
        return joined_completion(first, written, reply.completion), reply

    def _judge(self, run: _Run, index: int, candidate: Candidate, calls: list[CallRecord]) -> None:
        earlier = [step.action for step in run.steps if step.action is not None]
        view = StepView(
            question=run.question,
            prompts=run.prompts,
            trajectory=run.trajectory,
            index=index,
            step_text=candidate.text,
            parsed=candidate.parsed,
            result=candidate.result,
            completion=candidate.completion,
            request=candidate.request,
        )
        view.features = free = step_features(view)
        if forced_error(candidate.parsed, candidate.result, earlier):
            candidate.judgment = Judgment(p_error=1.0, features=dict(free))
            return
        if self.introspector is None:
            return
        try:
            judgment = self.introspector.judge(view, self.local)
        except ModelFailure as failure:
            raise QuestionFailed(f"local introspection failed: {failure}", _mark(failure.faults, "failed_question"))
        judgment.features = {**free, **judgment.features}
        candidate.judgment = judgment
        calls.extend(call_record(reply, "local", "judge") for reply in judgment.replies)
        if judgment.probe is not None:
            calls.append(_probe_call(judgment.probe, "local"))

    def _settings_record(self) -> dict:
        s = self.settings
        return {
            "max_steps": s.max_steps,
            "max_step_tokens": s.max_step_tokens,
            "on_cloud_error": s.on_cloud_error,
            "retry_temperature": s.retry_temperature,
            "seed": s.seed,
            "step_format": s.step_format,
            "run_code": s.run_code or None,
            "constrain": s.constrain,
            "waste_retries": s.waste_retries,
            "cloud_steps": list(self.policy.cloud_steps) if self.policy.mode == "handoff" else None,
            "switch_rate": self.policy.switch_rate if self.policy.mode == "random" else None,
            "max_retries": self.policy.max_retries if self.policy.mode == "self-reflection" else None,
            "max_cloud_steps": self.policy.max_cloud_steps,
            "repair_back": self.policy.repair_back or None,
        }


def read_step(written: str, index: int, family: str) -> tuple[str, ParsedStep, str]:
    """What a model wrote after ``Thought {index}:``, read as a step: the raw text, its parse, and
    the rendered step as it enters the trajectory."""
    body = _LEADING_LABEL.sub("", written, count=1)
    raw = f"Thought {index}:{body}"
    parsed = parse_step(raw, family)
    text = render_step(index, parsed.thought, parsed.action) if parsed.action else raw.rstrip()
    return raw, parsed, text


def wasted_step(parsed: ParsedStep, result: ToolResult | None, earlier: list[StepRecord]) -> bool:
    """True when a step can add nothing: its tool call repeats an earlier step's call, or it is a
    calculation that computes nothing (a bare number) or whose result an earlier observation
    already gave (``calculate[36]`` after ``Observation 1: 36``)."""
    action = parsed.action
    if parsed.is_free_reasoning:
        return any(step.action is None and step.thought == parsed.thought for step in earlier)
    if action is None or action.tool == "finish":
        return False
    if action.repeats([step.action for step in earlier if step.action is not None]):
        return True
    if action.tool != "calculate" or result is None or not result.ok:
        return False
    if is_plain_number(action.argument):
        return True
    return any(step.action is not None and step.action.tool == "calculate" and step.tool_ok
               and step.observation.strip() == result.text.strip() for step in earlier)


PARAGRAPH_CONTINUATIONS = 2
"""How many following paragraphs a paragraph that announces them may take into its step."""
PARAGRAPH_JOIN = "\n\n"


def announces_more(completion: Completion) -> bool:
    """A paragraph that stopped at a blank line right after a colon: it introduces what follows."""
    return completion.finish_reason == "stop" and completion.text.rstrip().endswith(":")


def continued(request: CompletionRequest, written: str) -> CompletionRequest:
    """``request`` again, its final (assistant) message followed by ``written``."""
    *earlier, partial = request.messages
    return request.model_copy(update={
        "messages": [*earlier, Message(role=partial.role, content=partial.content + written)]})


def joined_completion(first: Completion, first_text: str, then: Completion) -> Completion:
    """One step written in two calls (``first``, shown as ``first_text``, then ``then``): its text,
    tokens, time and log-probabilities in one; the prompt is the first call's."""
    logprobs = (first.logprobs or []) + (then.logprobs or []) if first.logprobs is not None else None
    return Completion(
        text=first_text + then.text,
        prompt_tokens=first.prompt_tokens,
        completion_tokens=first.completion_tokens + then.completion_tokens,
        recomputed_prompt_tokens=first.recomputed_prompt_tokens + then.recomputed_prompt_tokens,
        finish_reason=then.finish_reason,
        latency_s=first.latency_s + then.latency_s,
        logprobs=logprobs,
    )


def _with_program_output(completion: Completion, trajectory: str) -> Completion:
    """``completion`` with the real output of its python block after it, when it ends right after
    one (:func:`adaswitch.tools.python_runner.program_before_output`); else as it is."""
    blocks = program_before_output(trajectory, completion.text)
    if blocks is None:
        return completion
    return completion.model_copy(update={"text": completion.text.rstrip() + output_block(run_program(blocks))})


def read_paragraph_step(written: str, trajectory: str, family: str) -> tuple[str, ParsedStep, str]:
    """What a model wrote as one paragraph step: the raw text, its reading, and the step's text.

    An empty paragraph means the author ended the text without stating an answer: it becomes a
    ``finish`` with the answer read from the trajectory (its last number for math), or an empty one.
    """
    parsed = read_paragraph(written, family)
    if parsed.action is None and parsed.error is not None:
        answer, _ = extract_answer_from_text(trajectory, family)
        parsed = ParsedStep(action=Action(tool="finish", argument=answer or ""), repairs=["answer_from_text"])
        return written, parsed, ""
    return written, parsed, parsed.thought


def qa_toolbox_or_error(knowledge: list[Document] | None) -> Toolbox:
    if not knowledge:
        raise ValueError("the qa family needs a knowledge base: pass the question's paragraphs")
    from adaswitch.tools.search import KnowledgeBase

    return qa_toolbox(KnowledgeBase.from_documents(knowledge))


def _run_tool(toolbox: Toolbox, parsed: ParsedStep) -> ToolResult | None:
    if parsed.is_free_reasoning:
        return None  # a paragraph calls no tool
    if parsed.action is None:
        names = ", ".join(list(toolbox.names) + ["finish"])
        return ToolResult(ok=False, text=f"Invalid step: {parsed.error}. Write one action: {names}.")
    if parsed.action.tool == "finish":
        return None
    return toolbox.run(parsed.action)


def _record(
    index: int,
    c: Candidate,
    calls: list[CallRecord],
    faults: list[FaultRecord],
    p_error: float | None = None,
    wasted: list[Proposal] | None = None,
) -> StepRecord:
    return StepRecord(
        index=index,
        author=c.author,
        text=c.text,
        thought=c.parsed.thought,
        action=c.parsed.action,
        parse_error=c.parsed.error,
        repairs=list(c.parsed.repairs),
        observation=c.result.text if c.result else "",
        tool_ok=c.result.ok if c.result else True,
        p_error=p_error if p_error is not None else c.p_error,
        features=dict(c.judgment.features) if c.judgment else {},
        calls=calls,
        faults=faults,
        wasted=wasted or [],
    )


def _probe_call(probe: ProbeReply | HiddenStateReply, agent: Agent) -> CallRecord:
    """The trace's record of one judging probe (a yes/no read or a hidden state)."""
    return CallRecord(
        agent=agent,
        purpose="judge",
        prompt_tokens=probe.result.prompt_tokens,
        recomputed_prompt_tokens=probe.result.recomputed_prompt_tokens,
        latency_s=probe.result.latency_s,
        attempts=probe.attempts,
        bytes_sent=probe.bytes_sent,
        cached=probe.cached,
        redactions=probe.redactions,
    )


def _as_proposal(step: StepRecord) -> Proposal:
    """A committed step, as a proposal that was not kept (a step a repairing takeover revised)."""
    return Proposal(author=step.author, text=step.text, thought=step.thought, action=step.action,
                    parse_error=step.parse_error, observation=step.observation, tool_ok=step.tool_ok,
                    p_error=step.p_error, features=step.features)


def _mark(faults: list[FaultRecord], outcome: str) -> list[FaultRecord]:
    """Set the outcome of the final fault (what the engine did after the last attempt failed)."""
    if faults:
        faults = faults[:-1] + [faults[-1].model_copy(update={"outcome": outcome})]
    return faults
