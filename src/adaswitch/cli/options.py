"""Options shared by the commands that run the collaboration; each is also an ADASWITCH_* variable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError

from adaswitch.cot import COT_MODE, DEFAULT_COT_MAX_TOKENS
from adaswitch.introspection import INTROSPECTORS
from adaswitch.policies import MODES
from adaswitch.solver import DEFAULT_CLOUD, DEFAULT_LOCAL, EndpointSettings, SolverSettings

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--local", "local", default=DEFAULT_LOCAL, show_default=True, envvar="ADASWITCH_LOCAL",
                 help="Local model: an embedded name or .gguf path (in process), server:NAME_OR_PATH (a llama.cpp "
                      "server started here, many questions in one batch), server:URL, openai:MODEL or fake[:SCRIPT.json]."),
    click.option("--cloud", "cloud", default=DEFAULT_CLOUD, show_default=True, envvar="ADASWITCH_CLOUD",
                 help="Cloud model, same forms as --local. The default is an in-process stand-in."),
    click.option("--mode", type=click.Choice((*MODES, COT_MODE)), default="adaswitch", show_default=True,
                 envvar="ADASWITCH_MODE", help="How steps are written; 'cot' is the chain-of-thought baseline "
                                               "(one plain completion, no tools) on --cot-model."),
    click.option("--threshold", "-t", type=click.FloatRange(0, 1), default=0.5, show_default=True,
                 envvar="ADASWITCH_THRESHOLD", help="Switch when the probability of error exceeds this."),
    click.option("--introspection", type=click.Choice(sorted(INTROSPECTORS)), default="verifier", show_default=True,
                 envvar="ADASWITCH_INTROSPECTION",
                 help="Where the probability of error comes from: verifier prompt, token confidence, a trained "
                      "judgment (reflectively trained local model), a hidden-state probe (--probe), agreement of "
                      "re-sampled steps (consistency), a fitted combiner of free features (combined, --probe), "
                      "the step's position alone (a baseline: later steps to the cloud), or, in eval and sweep only, "
                      "the gold rules' verdict on the step (step-oracle: the ceiling of any signal)."),
    click.option("--probe", "probe", type=click.Path(dir_okay=False), envvar="ADASWITCH_PROBE",
                 help="Fitted file of --introspection probe or combined (fitted on labelled steps for this local model)."),
    click.option("--cloud-budget", type=click.FloatRange(0, 1), default=None, envvar="ADASWITCH_CLOUD_BUDGET",
                 help="Instead of -t: the share of steps the cloud may write; the threshold comes from --calibration."),
    click.option("--calibration", type=click.Path(dir_okay=False), default=None, envvar="ADASWITCH_CALIBRATION",
                 help="Calibration file of this signal and local model (adaswitch calibrate)."),
    click.option("--max-cloud-steps", type=click.IntRange(0), default=None, envvar="ADASWITCH_MAX_CLOUD_STEPS",
                 help="A hard cap: at most this many cloud steps per question."),
    click.option("--escalate-above", type=click.FloatRange(0, 1), default=None, envvar="ADASWITCH_ESCALATE_ABOVE",
                 help="Mode adaswitch: when the highest probability of error among the local agent's committed "
                      "steps exceeds this (or no answer came), the cloud solves the question from the start."),
    click.option("--judge-steps/--no-judge-steps", default=False, show_default=True, envvar="ADASWITCH_JUDGE_STEPS",
                 help="Judge every local step with --introspection even in modes that do not switch on it "
                      "(local, random): the records then serve adaswitch calibrate and offline signal scoring."),
    click.option("--repair-back", type=click.IntRange(0, 10), default=0, show_default=True,
                 envvar="ADASWITCH_REPAIR_BACK",
                 help="A cloud that takes over a step first writes its own version of up to N local steps before "
                      "it and rewrites from the earliest whose version does something else (0: the paper's "
                      "takeover of the flagged step alone)."),
    click.option("--switch-rate", type=click.FloatRange(0, 1), default=0.2, show_default=True,
                 envvar="ADASWITCH_SWITCH_RATE", help="Switch probability of the random baseline."),
    click.option("--max-retries", type=click.IntRange(1, 10), default=2, show_default=True,
                 envvar="ADASWITCH_MAX_RETRIES", help="Self-reflection: local retries of a flagged step."),
    click.option("--step-format", type=click.Choice(["react", "paragraphs"]), default="react", show_default=True,
                 envvar="ADASWITCH_STEP_FORMAT",
                 help="react: Thought / Action / Observation steps with tools; paragraphs: plain chain of "
                      "thought, one paragraph per step, no tools."),
    click.option("--run-code/--no-run-code", default=False, show_default=True, envvar="ADASWITCH_RUN_CODE",
                 help="Paragraph format, math: run the python a step writes (a restricted interpreter in a child "
                      "process) and show its real output instead of the one the model would make up."),
    click.option("--max-steps", type=click.IntRange(1, 50), default=None, envvar="ADASWITCH_MAX_STEPS",
                 help="Step limit (default 10 react steps, 16 paragraphs)."),
    click.option("--constrain/--no-constrain", default=True, show_default=True, envvar="ADASWITCH_CONSTRAIN",
                 help="Decode every step under the step grammar where the backend can (in-process llama.cpp; "
                      "endpoints with --*-grammar-field)."),
    click.option("--cloud-steps", default="1", show_default=True, envvar="ADASWITCH_CLOUD_STEPS",
                 help="--mode handoff: the steps the cloud writes, e.g. 1 or 1,2."),
    click.option("--cloud-grammar-field", type=click.Choice(["none", "grammar", "guided_grammar"]), default="none",
                 show_default=True, envvar="ADASWITCH_CLOUD_GRAMMAR_FIELD",
                 help="How the cloud endpoint takes a GBNF step grammar: 'grammar' (llama.cpp server), "
                      "'guided_grammar' (vLLM), or none."),
    click.option("--local-grammar-field", type=click.Choice(["none", "grammar", "guided_grammar"]), default="none",
                 show_default=True, envvar="ADASWITCH_LOCAL_GRAMMAR_FIELD",
                 help="Same as --cloud-grammar-field, for a local openai:MODEL endpoint."),
    click.option("--on-cloud-error", type=click.Choice(["fallback", "fail"]), default="fallback", show_default=True,
                 envvar="ADASWITCH_ON_CLOUD_ERROR", help="When the cloud fails: the local agent writes the step, or the question fails."),
    click.option("--cot-model", type=click.Choice(["local", "cloud"]), default="local", show_default=True,
                 envvar="ADASWITCH_COT_MODEL", help="Which model the chain-of-thought baseline (--mode cot) runs on."),
    click.option("--cot-max-tokens", type=click.IntRange(1), default=DEFAULT_COT_MAX_TOKENS, show_default=True,
                 envvar="ADASWITCH_COT_MAX_TOKENS", help="Token budget of the chain-of-thought baseline's answer."),
    click.option("--seed", type=int, default=0, show_default=True, envvar="ADASWITCH_SEED"),
    click.option("--cloud-base-url", envvar="ADASWITCH_CLOUD_BASE_URL", help="Base URL of an OpenAI-compatible cloud endpoint."),
    click.option("--cloud-api-key", envvar=["ADASWITCH_CLOUD_API_KEY", "OPENAI_API_KEY"], help="API key of the cloud endpoint."),
    click.option("--cloud-timeout", type=float, default=60.0, show_default=True, envvar="ADASWITCH_CLOUD_TIMEOUT"),
    click.option("--cloud-attempts", type=click.IntRange(1, 10), default=3, show_default=True,
                 envvar="ADASWITCH_CLOUD_ATTEMPTS", help="Attempts per cloud call (retries with backoff on 429, 5xx, timeouts)."),
    click.option("--cloud-prefix-mode", type=click.Choice(["fold", "continue"]), default="fold", show_default=True,
                 envvar="ADASWITCH_CLOUD_PREFIX_MODE", help="How a chat endpoint continues a partial trajectory."),
    click.option("--local-base-url", envvar="ADASWITCH_LOCAL_BASE_URL", help="Base URL when the local model is openai:MODEL."),
    click.option("--local-api-key", envvar="ADASWITCH_LOCAL_API_KEY"),
    click.option("--redact", default="", envvar="ADASWITCH_REDACT",
                 help="Remove these built-in patterns from what is sent to the cloud: email,phone,ipv4,iban,card."),
    click.option("--redact-pattern", "redact_pattern", multiple=True, envvar="ADASWITCH_REDACT_PATTERN",
                 help="Custom LABEL=REGEX to remove from what is sent to the cloud (repeatable)."),
    click.option("--n-ctx", type=int, default=4096, show_default=True, envvar="ADASWITCH_N_CTX",
                 help="Context size of in-process models (per sequence for server:MODEL)."),
    click.option("--server-slots", type=click.IntRange(1, 64), default=8, show_default=True,
                 envvar="ADASWITCH_SERVER_SLOTS",
                 help="Sequences a server:MODEL decodes in one batch; match it to --workers."),
]


def solver_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def settings_from_options(options: dict[str, Any]) -> SolverSettings:
    """Turn the shared options into solver settings; a mode that needs no cloud loads none."""
    mode = options["mode"]
    needs_cloud = mode in ("cloud", "adaswitch", "random", "handoff") or (mode == COT_MODE and options["cot_model"] == "cloud")
    cloud = options["cloud"] if needs_cloud else None
    try:
        return _settings(options, mode, cloud)
    except ValidationError as error:
        raise click.UsageError("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None


def _settings(options: dict[str, Any], mode: str, cloud: str | None) -> SolverSettings:
    return SolverSettings(
        local=options["local"],
        cloud=cloud or None,
        mode=mode,
        threshold=options["threshold"],
        introspection=options["introspection"],
        probe_path=options["probe"],
        cloud_budget=options["cloud_budget"],
        calibration_path=options["calibration"],
        max_cloud_steps=options["max_cloud_steps"],
        escalate_above=options["escalate_above"],
        repair_back=options["repair_back"],
        judge_steps=options["judge_steps"],
        switch_rate=options["switch_rate"],
        max_retries=options["max_retries"],
        max_steps=options["max_steps"],
        step_format=options["step_format"],
        run_code=options["run_code"],
        constrain=options["constrain"],
        cloud_steps=_step_indices(options["cloud_steps"]),
        on_cloud_error=options["on_cloud_error"],
        seed=options["seed"],
        cot_model=options["cot_model"],
        cot_max_tokens=options["cot_max_tokens"],
        redact=[name.strip() for name in options["redact"].split(",") if name.strip()],
        redact_patterns=_custom_patterns(options["redact_pattern"]),
        local_endpoint=EndpointSettings(
            base_url=options["local_base_url"],
            api_key=options["local_api_key"],
            n_ctx=options["n_ctx"],
            parallel=options["server_slots"],
            grammar_field=_field(options["local_grammar_field"]),
        ),
        cloud_endpoint=EndpointSettings(
            base_url=options["cloud_base_url"],
            api_key=options["cloud_api_key"],
            timeout_s=options["cloud_timeout"],
            max_attempts=options["cloud_attempts"],
            prefix_mode=options["cloud_prefix_mode"],
            n_ctx=options["n_ctx"],
            parallel=options["server_slots"],
            grammar_field=_field(options["cloud_grammar_field"]),
        ),
    )


def _field(choice: str) -> str | None:
    return None if choice == "none" else choice


def _step_indices(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected step numbers such as 1 or 1,2, got {text!r}", param_hint="--cloud-steps") from None
    if not steps or min(steps) < 1:
        raise click.BadParameter("step numbers start at 1", param_hint="--cloud-steps")
    return steps


def _custom_patterns(items: tuple[str, ...]) -> dict[str, str]:
    patterns = {}
    for item in items:
        label, sep, regex = item.partition("=")
        if not sep or not label.strip() or not regex:
            raise click.BadParameter(f"expected LABEL=REGEX, got {item!r}", param_hint="--redact-pattern")
        patterns[label.strip()] = regex
    return patterns
