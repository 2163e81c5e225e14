"""Human-readable rendering of steps and traces for the terminal."""

from __future__ import annotations

from adaswitch.trace import StepRecord, Trace


def format_step(step: StepRecord) -> str:
    p = f"p(error)={step.p_error:.2f}" if step.p_error is not None else "p(error)=  - "
    tag = f"[{step.author:>5}] {p}"
    lines = [f"{tag}  " + step.text.replace("\n", "\n" + " " * (len(tag) + 2))]
    for proposal in step.replaced:
        lines.append(f"{'':>7} replaced {proposal.author} proposal (p={_p(proposal.p_error)}): {_one_line(proposal.text)}")
    if step.observation:
        lines.append(f"{'':>{len(tag) + 2}}Observation {step.index}: {_one_line(step.observation)}")
    for fault in step.faults:
        lines.append(f"{'':>7} ! {fault.agent} {fault.kind} (attempt {fault.attempt}, {fault.outcome}): {fault.message}")
    return "\n".join(lines)


def format_summary(trace: Trace, cloud_stand_in: bool) -> str:
    local, cloud = trace.usage_of("local"), trace.usage_of("cloud")
    total_tokens = local.processed_tokens + cloud.processed_tokens
    cloud_share = cloud.processed_tokens / total_tokens if total_tokens else 0.0
    lines = [
        f"Answer: {trace.answer if trace.answer is not None else '(none)'}"
        f"  [{trace.answer_source}, {trace.status}{': ' + trace.error if trace.error else ''}]",
        f"Steps: {len(trace.steps)} ({trace.cloud_steps} by the cloud, {trace.switch_count} switched)",
        f"Local:  {local.calls} calls, {local.prompt_tokens} prompt tokens ({local.recomputed_prompt_tokens} recomputed), "
        f"{local.completion_tokens} completion tokens, {local.latency_s:.1f} s",
        f"Cloud:  {cloud.calls} calls, {cloud.prompt_tokens} prompt tokens ({cloud.recomputed_prompt_tokens} recomputed), "
        f"{cloud.completion_tokens} completion tokens, {cloud.latency_s:.1f} s",
        f"Cloud share of processed tokens: {cloud_share:.0%}; wall time {trace.wall_time_s:.1f} s",
    ]
    if trace.escalation is not None:
        e = trace.escalation
        lines.insert(2, f"Escalated: the collaborative trajectory ({len(e.trajectory.steps)} steps, answer "
                        f"{e.trajectory.answer if e.trajectory.answer is not None else '(none)'}) had risk {e.risk:.2f} "
                        f"> {e.threshold:.2f}, so the cloud solved the question alone; costs include both")
    if cloud_stand_in and trace.cloud_model:
        lines.append(f"Note: the cloud agent ({trace.cloud_model}) is a local stand-in running in this process.")
    return "\n".join(lines)


def _p(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
