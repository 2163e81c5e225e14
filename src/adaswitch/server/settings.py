"""The typed settings of the OpenAI-compatible server (the ``server`` extra).

Only pydantic is imported here, so the CLI can build settings without loading FastAPI.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from adaswitch.solver import SolverSettings

_NOT_IN_PROCESS = ("openai:", "fake")


class ServerSettings(BaseModel):
    """Where to listen, how much to accept, and the models to solve with.

    The default threshold of the ``adaswitch`` and ``adaswitch-self-reflection`` model names is
    ``solver.threshold``; the default switch rate of ``adaswitch-random`` is ``solver.switch_rate``.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key: str | None = Field(default=None, repr=False)
    """When set, every ``/v1`` request needs ``Authorization: Bearer <api_key>``."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_concurrency: int | None = Field(default=None, ge=1)
    """Questions solved at once. None: 1 when a model runs in this process (llama.cpp is one
    worker), 8 when both models are remote or fake."""
    max_queue: int = Field(default=16, ge=0)
    """Requests that may wait for a worker; beyond ``max_concurrency + max_queue`` the answer is 429."""
    request_timeout_s: float = Field(default=600.0, gt=0)
    """Longest time a request may wait and solve; then 504 (the solve stops after the step under way)."""
    graceful_shutdown_s: int = Field(default=30, ge=0)
    """On shutdown, how long requests in flight may take to finish."""
    retry_after_s: int = Field(default=1, ge=0)
    """Value of the Retry-After header sent with 429."""
    solver: SolverSettings = Field(default_factory=SolverSettings)

    def model_in_process(self) -> bool:
        """True when a model runs in this process (llama.cpp), which serves one call at a time."""
        specs = [self.solver.local] + ([self.solver.cloud] if self.solver.cloud else [])
        return any(not spec.startswith(_NOT_IN_PROCESS) for spec in specs)

    def workers(self) -> int:
        """The effective ``max_concurrency``."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        return 1 if self.model_in_process() else 8
