"""The Python API: typed settings, a reusable :class:`Solver`, and :func:`solve` for one call.

``Solver`` builds the two models once (from backend specs, or from backends passed in) and solves
any number of questions; the mode and threshold can change per call, which the server and the
threshold sweep rely on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from adaswitch.backends import EndpointOptions, make_backend
from adaswitch.backends.base import Backend
from adaswitch.backends.cpu_gate import CpuGate
from adaswitch.cot import COT_MODE, DEFAULT_COT_MAX_TOKENS, CotSettings, answer_kind, solve_cot
from adaswitch.documents import Document
from adaswitch.engine import Collaboration, EngineSettings, StepCallback
from adaswitch.escalation import escalated, should_escalate
from adaswitch.grammar import answer_type_for
from adaswitch.prompts import task_prompts
from adaswitch.introspection import FITTED_SIGNALS, INTROSPECTORS, Introspector, make_introspector
from adaswitch.model import Model, RetryPolicy
from adaswitch.policies import make_policy
from adaswitch.trace import Agent, Trace

if TYPE_CHECKING:
    from adaswitch.calibration import Calibration
    from adaswitch.response_cache import ResponseCache
    from adaswitch.redaction import Redactor

DEFAULT_LOCAL = "qwen2.5-coder-0.5b"
DEFAULT_CLOUD = "qwen2.5-coder-1.5b"


class EndpointSettings(BaseModel):
    base_url: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    timeout_s: float = 60.0
    prefix_mode: Literal["fold", "continue"] = "fold"
    max_attempts: int = 3
    n_ctx: int = 4096
    n_threads: int | None = None
    parallel: int = Field(default=8, ge=1)
    """Slots of a managed llama.cpp server (``server:MODEL``): requests decoded in one batch."""
    grammar_field: Literal["grammar", "guided_grammar"] | None = None
    """An OpenAI-compatible endpoint's body field for step grammars: ``grammar`` (llama.cpp's
    server) or ``guided_grammar`` (vLLM); None when it takes none (steps are read leniently)."""

    def options(self) -> EndpointOptions:
        return EndpointOptions(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout_s=self.timeout_s,
            prefix_mode=self.prefix_mode,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            grammar_field=self.grammar_field,
            parallel=self.parallel,
        )


def _shipped_note(local: str) -> str:
    from adaswitch.introspection.shipped import shipped_formats

    formats = shipped_formats(local)
    return (f"; the package ships them for {local} with --introspection combined or position in step format "
            f"{' and '.join(formats)}" if formats else "")


class SolverSettings(BaseModel):
    local: str = DEFAULT_LOCAL
    cloud: str | None = DEFAULT_CLOUD
    mode: str = "adaswitch"
    threshold: float = 0.5
    """Switch when the probability of error exceeds this; set from ``cloud_budget`` when that is given."""
    introspection: str = "verifier"
    probe_path: str | None = None
    """The fitted file of ``introspection="probe"`` (see :mod:`adaswitch.learning.probe`) or of
    ``introspection="combined"`` (see :mod:`adaswitch.introspection.combined`)."""
    cloud_budget: float | None = Field(default=None, ge=0.0, le=1.0)
    """Set the threshold from this share of cloud steps instead (needs ``calibration_path``)."""
    calibration_path: str | None = None
    """The file of ``adaswitch calibrate`` that turns ``cloud_budget`` into a threshold."""
    max_cloud_steps: int | None = Field(default=None, ge=0)
    """At most this many steps of a question go to the cloud (None: no cap)."""
    escalate_above: float | None = Field(default=None, ge=0.0, le=1.0)
    """Mode ``adaswitch``: when a finished trajectory's risk (the highest probability of error among
    its committed local steps) exceeds this, or it has no answer, the cloud solves the question from
    the start and its answer stands (:mod:`adaswitch.escalation`; None: never)."""
    judge_steps: bool = False
    """Judge every local proposal with the introspection signal even where the mode does not switch
    on it (``local``, ``random``): the trace then records each step's probability and features, for
    calibration (``adaswitch calibrate``) and for scoring signals offline."""
    repair_back: int = Field(default=0, ge=0)
    """Mode ``adaswitch``: a cloud that takes over a step first writes its own version of up to this
    many local steps before it, and rewrites from the earliest whose version does something else
    (another value, answer or query; 0: it writes the flagged step alone)."""
    switch_rate: float = 0.2
    max_retries: int = 2
    step_format: Literal["react", "paragraphs"] = "react"
    """``react``: Thought / Action / Observation with tools; ``paragraphs``: plain chain of thought,
    one paragraph per step (see :class:`adaswitch.prompts.ParagraphPrompts`)."""
    run_code: bool = False
    """Paragraph format, math: run the python a step writes and show its real output instead of
    the one the model would make up (:mod:`adaswitch.tools.python_runner`)."""
    max_steps: int | None = None
    """None: 10 steps in the react format, 16 paragraphs in the paragraph format."""
    max_step_tokens: int | None = None
    """None: 160 tokens per react step, 256 per paragraph."""
    constrain: bool = True
    """Decode every step under the step grammar where the backend can (:mod:`adaswitch.grammar`)."""
    cloud_steps: tuple[int, ...] = (1,)
    """Mode ``handoff``: the steps the cloud writes (the local agent writes the rest)."""
    on_cloud_error: Literal["fallback", "fail"] = "fallback"
    seed: int = 0
    cot_model: Agent = "local"
    """Which model the chain-of-thought baseline (mode ``cot``) runs on."""
    cot_max_tokens: int = Field(default=DEFAULT_COT_MAX_TOKENS, ge=1)
    """Token budget of the chain-of-thought baseline's one completion."""
    redact: list[str] = Field(default_factory=list)
    """Built-in patterns (email, phone, ipv4, iban, card) removed from everything sent to the cloud."""
    redact_patterns: dict[str, str] = Field(default_factory=dict)
    """Custom patterns to remove from what is sent to the cloud: {label: regular expression}."""
    local_endpoint: EndpointSettings = Field(default_factory=EndpointSettings)
    cloud_endpoint: EndpointSettings = Field(default_factory=EndpointSettings)
    _calibration: "Calibration | None" = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _known_introspection(self) -> "SolverSettings":
        if self.introspection not in INTROSPECTORS:
            raise ValueError(f"unknown introspection {self.introspection!r}; expected one of {', '.join(INTROSPECTORS)}")
        self._use_shipped_signal_files()
        if self.introspection in FITTED_SIGNALS and not self.probe_path:
            raise ValueError(f"introspection {self.introspection!r} needs its fitted file: set probe_path (--probe PATH)"
                             f"{_shipped_note(self.local)}")
        if self.cloud_budget is not None and not self.calibration_path:
            raise ValueError("a cloud budget needs a calibration file (--calibration FILE, from adaswitch calibrate)"
                             f"{_shipped_note(self.local)}")
        if self.calibration_path:
            from adaswitch.calibration import Calibration

            self._calibration = Calibration.load(self.calibration_path)
            self._calibration.check_for(self.introspection, self._calibration.local_model)  # the model: once loaded
            if self.cloud_budget is not None:
                self.threshold = self._calibration.threshold_for(self.cloud_budget)
        return self

    def _use_shipped_signal_files(self) -> None:
        """Fill in the combiner and the calibration the package ships for the local model in this step
        format (:mod:`adaswitch.introspection.shipped`) where none is given. A shipped calibration is
        used only for the signal it was made with: ``position``, or the shipped combiner itself; it is
        read even without ``cloud_budget``, so that the server's ``adaswitch@budget=B`` works."""
        from adaswitch.introspection.shipped import shipped_file

        if self.introspection not in ("combined", "position"):
            return
        combiner = shipped_file(self.local, self.step_format, self.run_code, "combiner.json")
        if self.introspection == "combined" and not self.probe_path:
            self.probe_path = str(combiner) if combiner else None
        made_for_it = self.introspection == "position" or (combiner is not None and self.probe_path == str(combiner))
        if not self.calibration_path and made_for_it:
            calibration = shipped_file(self.local, self.step_format, self.run_code, f"{self.introspection}.json")
            self.calibration_path = str(calibration) if calibration else None

    @property
    def calibration(self) -> "Calibration | None":
        """The calibration file's content, read once when the settings were made (None without one)."""
        return self._calibration

    def cloud_is_local_stand_in(self) -> bool:
        """True when the 'cloud' model actually runs in this process (an embedded or GGUF model)."""
        return self.cloud is not None and not self.cloud.startswith(("openai:", "fake"))


class Solver:
    """Two models in their roles, ready to solve questions. Close it (or use ``with``) when done."""

    def __init__(
        self,
        settings: SolverSettings,
        local: Backend | None = None,
        cloud: Backend | None = None,
        cache: "ResponseCache | None" = None,
        introspector: Introspector | None = None,
    ):
        """``introspector`` replaces the signal ``settings.introspection`` names (the evaluation's
        step oracle, which is built from the samples)."""
        self.settings = settings
        if settings.mode != COT_MODE:
            make_policy(settings.mode, settings.threshold, settings.switch_rate, settings.max_retries)
        redactor = _redactor(settings)
        # built before any model loads, so a bad probe file fails fast; checked against the model below
        self.introspector: Introspector = introspector or make_introspector(settings.introspection,
                                                                            probe_path=settings.probe_path)
        gate = CpuGate()  # servers started here for both models take turns on the CPUs
        local_backend = local or make_backend(settings.local, settings.local_endpoint.options(), gate)
        local_retry = RetryPolicy(max_attempts=settings.local_endpoint.max_attempts)
        self.local = Model(local_backend, "local", local_retry, cache=cache)
        self.cloud: Model | None = None
        try:
            if settings.calibration is not None:
                settings.calibration.check_for(settings.introspection, self.local.name)
            self.introspector.prepare(self.local)
            if cloud is not None or settings.cloud:
                cloud_backend = cloud or make_backend(settings.cloud, settings.cloud_endpoint.options(), gate)  # type: ignore[arg-type]
                cloud_retry = RetryPolicy(max_attempts=settings.cloud_endpoint.max_attempts)
                self.cloud = Model(cloud_backend, "cloud", cloud_retry, cache=cache, redactor=redactor)
        except BaseException:
            self.local.close()
            raise

    @property
    def in_process(self) -> bool:
        """True when a model runs in this process (one worker at a time)."""
        models = [self.local] + ([self.cloud] if self.cloud else [])
        return any(m.backend.in_process for m in models)

    def prompt_overflow(self, question: str, family: str = "math", knowledge: list[Document] | None = None,
                        answer_type: str | None = None) -> tuple[int, int] | None:
        """``(tokens, room)`` when the first step's prompt for this question leaves the local model no
        room for the step's tokens (``tokens > room``); None when it fits or the backend cannot count."""
        backend = self.local.backend
        if backend.context_size is None:
            return None
        engine = self.engine_settings()
        prompts = task_prompts(engine.step_format, family, answer_type_for(family, answer_type), knowledge)
        tokens = backend.count_tokens(prompts.step_messages(question, "", 1), continue_final=True)
        room = backend.context_size - engine.max_step_tokens
        return (tokens, room) if tokens is not None and tokens > room else None

    def collaboration(
        self, mode: str | None = None, threshold: float | None = None, switch_rate: float | None = None
    ) -> Collaboration:
        s = self.settings
        policy = make_policy(
            mode or s.mode,
            s.threshold if threshold is None else threshold,
            s.switch_rate if switch_rate is None else switch_rate,
            s.max_retries,
            s.cloud_steps,
            max_cloud_steps=s.max_cloud_steps,
            repair_back=s.repair_back,
        )
        introspector = self.introspector if policy.needs_probability or s.judge_steps else None
        return Collaboration(self.local, self.cloud, policy, introspector, self.engine_settings())

    def engine_settings(self) -> EngineSettings:
        """The engine's settings, the format's defaults filled in."""
        s = self.settings
        return EngineSettings(
            max_steps=s.max_steps or (16 if s.step_format == "paragraphs" else 10),
            max_step_tokens=s.max_step_tokens or (256 if s.step_format == "paragraphs" else 160),
            step_format=s.step_format,
            run_code=s.run_code,
            on_cloud_error=s.on_cloud_error,
            seed=s.seed,
            constrain=s.constrain,
            score_all_steps=s.judge_steps,
        )

    def solve(
        self,
        question: str,
        family: str = "math",
        knowledge: list[Document] | None = None,
        question_id: str = "",
        mode: str | None = None,
        threshold: float | None = None,
        switch_rate: float | None = None,
        on_step: StepCallback | None = None,
        answer_type: str | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Trace:
        """Solve one question; ``answer_type`` is what its ``finish`` holds (see
        :mod:`adaswitch.grammar`; by default the family's); ``seed`` replaces the settings' seed for
        this question, ``temperature`` the temperature of its sampled writes (re-samples, retries);
        ``max_tokens`` bounds the completion tokens the agents write in all (the trace
        then ends with status ``max_tokens``; the chain-of-thought mode caps its one completion)."""
        if (mode or self.settings.mode) == COT_MODE:
            trace = self.solve_cot(question, family, knowledge, question_id, seed=seed, max_tokens=max_tokens)
            if on_step:
                for step in trace.steps:
                    on_step(step)
            return trace
        collaboration = self.collaboration(mode, threshold, switch_rate)
        trace = collaboration.solve(question, family, knowledge, question_id, on_step, answer_type=answer_type,
                                    seed=seed, max_tokens=max_tokens, temperature=temperature)
        limit = self.settings.escalate_above
        if limit is None or collaboration.policy.mode != "adaswitch" or not should_escalate(trace, limit):
            return trace
        if max_tokens is not None:  # the cloud's own solution gets what the trajectory left of the bound
            max_tokens -= sum(trace.usage_of(agent).completion_tokens for agent in ("local", "cloud"))
            if max_tokens <= 0:
                return trace
        cloud_trace = self.collaboration("cloud").solve(question, family, knowledge, question_id, on_step,
                                                        answer_type=answer_type, seed=seed, max_tokens=max_tokens,
                                                        temperature=temperature)
        return escalated(trace, cloud_trace, limit)

    def solve_cot(
        self,
        question: str,
        family: str = "math",
        knowledge: list[Document] | None = None,
        question_id: str = "",
        model: Agent | None = None,
        benchmark: str | None = None,
        seed: int | None = None,
        max_tokens: int | None = None,
    ) -> Trace:
        """The chain-of-thought baseline on ``model`` (default: ``settings.cot_model``), its answer
        formatted for ``benchmark`` when given (a LaTeX expression for MATH-500, yes/no for StrategyQA)."""
        role = model or self.settings.cot_model
        chosen = self.local if role == "local" else self.cloud
        if chosen is None:
            raise ValueError("the chain-of-thought baseline on the cloud model needs a cloud model")
        settings = CotSettings(
            max_tokens=min(self.settings.cot_max_tokens, max_tokens or self.settings.cot_max_tokens),
            seed=self.settings.seed if seed is None else seed, answer_kind=answer_kind(family, benchmark),
        )
        return solve_cot(chosen, question, family, knowledge, question_id=question_id, settings=settings,
                         local_model=self.local.name)

    def close(self) -> None:
        self.local.close()
        if self.cloud is not None:
            self.cloud.close()

    def __enter__(self) -> "Solver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _redactor(settings: SolverSettings) -> "Redactor | None":
    if not settings.redact and not settings.redact_patterns:
        return None
    from adaswitch.redaction import Redactor

    return Redactor.from_names(settings.redact, settings.redact_patterns)


def solve(
    question: str,
    family: str = "math",
    knowledge: list[Document] | None = None,
    **settings: object,
) -> Trace:
    """Solve one question with freshly loaded models (see :class:`SolverSettings` for the options)."""
    with Solver(SolverSettings(**settings)) as solver:  # type: ignore[arg-type]
        return solver.solve(question, family, knowledge)
