"""The settings of a fine-tuning run (no training stack imported here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class FinetuneSettings:
    method: Literal["lora", "full"] = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"
    """PEFT's ``target_modules``: ``"all-linear"`` (every linear layer but the output head) or names."""
    learning_rate: float | None = None
    """None: 2e-4 for LoRA, 2e-5 for full fine-tuning."""
    epochs: float = 1.0
    max_steps: int | None = None
    """When set, the number of optimiser steps, whatever ``epochs`` says."""
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 1536
    """Tokens per example; longer ones are handled as ``overlong`` says."""
    overlong: Literal["truncate", "drop"] = "truncate"
    """``truncate``: cut the prompt from the left (keeping a leading BOS); ``drop``: skip the record.
    A record whose completion alone does not fit is always dropped."""
    bf16: Literal["auto", "on", "off"] = "auto"
    """bf16 autocast; ``auto`` turns it on where it speeds training (see :func:`bf16_helps`)."""
    gradient_checkpointing: bool = True
    seed: int = 0
    threads: int | None = None
    """torch CPU threads while training; None leaves torch's default."""
    checkpoint_every: int = 10
    """Save a resumable checkpoint every this many optimiser steps; 0: never (a killed run starts over)."""
    pack_trajectories: bool = False
    """Train the step records that are cuts of one trajectory as one sequence, every step in the loss
    (:func:`records.trajectory_groups`): same targets, a fraction of the tokens."""

    def __post_init__(self) -> None:
        checks = [
            (self.method in ("lora", "full"), f"method must be 'lora' or 'full', not {self.method!r}"),
            (self.lora_r > 0 and self.lora_alpha > 0, "lora_r and lora_alpha must be positive"),
            (0.0 <= self.lora_dropout < 1.0, "lora_dropout must be in [0, 1)"),
            (self.learning_rate is None or self.learning_rate > 0, "learning_rate must be positive"),
            (self.epochs > 0, "epochs must be positive"),
            (self.max_steps is None or self.max_steps > 0, "max_steps must be positive"),
            (self.batch_size > 0 and self.grad_accum > 0, "batch_size and grad_accum must be positive"),
            (self.max_length > 1, "max_length must be at least 2"),
            (self.overlong in ("truncate", "drop"), f"overlong must be 'truncate' or 'drop', not {self.overlong!r}"),
            (self.bf16 in ("auto", "on", "off"), f"bf16 must be 'auto', 'on' or 'off', not {self.bf16!r}"),
            (self.threads is None or self.threads > 0, "threads must be positive"),
            (self.checkpoint_every >= 0, "checkpoint_every must be 0 (never) or positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-4 if self.method == "lora" else 2e-5

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.target_modules, tuple):
            data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinetuneSettings:
        return cls(**data)

    def training_json(self) -> dict[str, Any]:
        """The settings that decide what is trained (not how often it is saved or on how many threads)."""
        data = self.to_json()
        for key in _NOT_TRAINING:
            data.pop(key)
        return data


_NOT_TRAINING = ("threads", "checkpoint_every")
