"""Question-level escalation on top of step-level switching.

AdaSwitch hands single steps to the cloud, and a trajectory can still end wrong with every local
step under the threshold. Escalation adds the query-level cascade's move after the trajectory: when
its *risk* (the highest probability of error among the steps the local agent committed) exceeds a
second threshold, or it ended without an answer, the cloud solves the question from the start and
its answer stands. The collaborative trajectory is kept in the trace and paid for. Risk costs
nothing: the probabilities were computed to decide the switches.
"""

from __future__ import annotations

from adaswitch.trace import Escalation, Trace


def trajectory_risk(trace: Trace) -> float:
    """The question-level probability of error of a judged trajectory: 1 without an answer, else the
    highest probability of error among its committed local steps (0 when none was judged)."""
    if trace.answer is None:
        return 1.0
    return max((s.p_error for s in trace.steps if s.author == "local" and s.p_error is not None), default=0.0)


def should_escalate(trace: Trace, threshold: float) -> bool:
    """Whether a trajectory goes to the cloud whole: no answer, or risk above ``threshold``."""
    return trace.answer is None or trajectory_risk(trace) > threshold


def escalated(trace: Trace, cloud_trace: Trace, threshold: float) -> Trace:
    """The trace of a question escalated after ``trace``: the cloud's steps and answer, with the
    collaborative trajectory set aside in ``escalation`` (its cost counts), the collaboration's mode
    and settings, and the wall time of both."""
    return trace.model_copy(update={
        "steps": cloud_trace.steps, "answer": cloud_trace.answer, "answer_source": cloud_trace.answer_source,
        "answer_method": cloud_trace.answer_method, "status": cloud_trace.status, "error": cloud_trace.error,
        "wall_time_s": trace.wall_time_s + cloud_trace.wall_time_s,
        "escalation": Escalation(risk=trajectory_risk(trace), threshold=threshold, trajectory=trace),
    })
