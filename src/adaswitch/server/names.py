"""The model-name grammar: the requested model picks the collaboration mode and its parameter.

    adaswitch[@T]                  AdaSwitch, switch a step to the cloud when p(error) > T
    adaswitch@budget=B             AdaSwitch at the threshold that gives a B share of cloud steps
                                   (a server started with --calibration; see adaswitch calibrate)
    adaswitch-self-reflection[@T]  the local agent redoes a step when p(error) > T
    adaswitch-random[@R]           a random R share of the steps go to the cloud
    adaswitch-local                the local agent alone
    adaswitch-cloud                the cloud agent alone

T and R are numbers in [0, 1]; without them the server defaults apply. Names whose mode needs a
cloud model are unknown when the server runs without one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import Literal

PREFIX = "adaswitch"
_SUFFIXES = {"": "adaswitch", "-self-reflection": "self-reflection", "-random": "random", "-local": "local", "-cloud": "cloud"}
_PARAMETER: dict[str, Literal["threshold", "switch_rate"]] = {
    "adaswitch": "threshold",
    "self-reflection": "threshold",
    "random": "switch_rate",
}
_NEEDS_CLOUD = {"adaswitch", "random", "cloud"}


class UnknownModel(ValueError):
    """The name is not one this server serves; the message says why."""


@dataclass(frozen=True)
class ModelChoice:
    """What a model name asks for: a mode and, for the modes that have one, its parameter."""

    name: str
    mode: str
    value: float | None
    """The threshold (adaswitch, self-reflection) or switch rate (random); None for local/cloud."""

    @property
    def parameter(self) -> Literal["threshold", "switch_rate"] | None:
        return _PARAMETER.get(self.mode)


def parse_model(name: str, threshold: float, switch_rate: float, has_cloud: bool,
                threshold_for_budget: Callable[[float], float] | None = None) -> ModelChoice:
    """Read a model name, filling in the server's default threshold and switch rate;
    ``threshold_for_budget`` turns ``@budget=B`` into a threshold (None: the server has no calibration)."""
    base, at, value_text = name.strip().partition("@")
    mode = _SUFFIXES.get(base[len(PREFIX):]) if base.startswith(PREFIX) else None
    if mode is None:
        raise UnknownModel(f"unknown model {name!r}; expected one of {', '.join(served_models(has_cloud))}, "
                           "optionally with @VALUE for the threshold or switch rate")
    if mode in _NEEDS_CLOUD and not has_cloud:
        raise UnknownModel(f"model {name!r} needs a cloud model, and this server runs without one")
    parameter = _PARAMETER.get(mode)
    if not at:
        default = {"threshold": threshold, "switch_rate": switch_rate}.get(parameter) if parameter else None
        return ModelChoice(name, mode, default)
    if parameter is None:
        raise UnknownModel(f"model {base!r} takes no @VALUE")
    budget = value_text.startswith("budget=")
    if budget and mode != "adaswitch":
        raise UnknownModel(f"model {base!r} takes no @budget=B; only adaswitch does")
    if budget and threshold_for_budget is None:
        raise UnknownModel(f"model {name!r} asks for a cloud budget, and this server has no calibration "
                           "(start it with --calibration FILE)")
    value_text = value_text.removeprefix("budget=")
    try:
        value = float(value_text)
    except ValueError:
        raise UnknownModel(f"unknown model {name!r}: {value_text!r} is not a number") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        what = "cloud budget" if budget else parameter.replace("_", " ")
        raise UnknownModel(f"unknown model {name!r}: the {what} must be in [0, 1]")
    if budget:
        value = threshold_for_budget(value)  # type: ignore[misc]
    return ModelChoice(name, mode, value)


def served_models(has_cloud: bool) -> list[str]:
    """The base names this server answers to (each parametric one also takes @VALUE)."""
    return [PREFIX + suffix for suffix, mode in _SUFFIXES.items() if has_cloud or mode not in _NEEDS_CLOUD]


def mode_of(name: str) -> str:
    """The mode of a base name from :func:`served_models`."""
    return _SUFFIXES[name[len(PREFIX):]]
