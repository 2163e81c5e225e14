"""A ``llama-server`` process managed by adaswitch: started on 127.0.0.1, health-checked, stopped.

One process serves one GGUF model with ``parallel`` slots: requests that arrive together are
decoded in one batch (continuous batching), and each slot keeps the KV cache of its last prompt, so
a trajectory's next step recomputes only its new tokens. The server's log goes to a temporary file,
whose tail is quoted when the server fails to start or dies.

A server never outlives its owner: :meth:`LlamaServerProcess.stop` ends it, and on Linux a server
started from the main thread is also sent SIGTERM by the kernel when the process that started it
dies, even by SIGKILL (``PR_SET_PDEATHSIG``), so a killed run leaves no model in memory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from adaswitch.backends.base import BackendError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerSettings:
    """How a managed server runs its model."""

    parallel: int = 8
    """Slots: sequences decoded in one batch."""
    n_ctx: int = 4096
    """Context of one sequence; the server's KV cache holds ``parallel * n_ctx`` tokens, shared."""
    threads: int | None = None
    """CPU threads (default: the CPUs this process may run on)."""
    startup_timeout_s: float = 180.0


class LlamaServerProcess:
    """``llama-server`` for one model file, on a free port of 127.0.0.1, until :meth:`stop`."""

    def __init__(self, binary: Path, model_path: Path, settings: ServerSettings | None = None,
                 lora_path: Path | None = None):
        self.binary = Path(binary)
        self.model_path = Path(model_path)
        self.lora_path = Path(lora_path) if lora_path is not None else None
        self.settings = settings or ServerSettings()
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def command(self) -> list[str]:
        s = self.settings
        threads = s.threads or len(os.sched_getaffinity(0))
        return [
            str(self.binary), "--model", str(self.model_path), "--host", HOST, "--port", str(self.port),
            "--parallel", str(s.parallel), "--ctx-size", str(s.parallel * s.n_ctx),
            "--threads", str(threads), "--threads-batch", str(threads), "--n-gpu-layers", "0",
            "--no-webui", "--cont-batching", "--flash-attn", "off",
        ] + (["--lora", str(self.lora_path)] if self.lora_path is not None else [])

    def start(self) -> "LlamaServerProcess":
        """Start the server and wait until it answers ``/health`` with 200."""
        if self._process is not None:
            return self
        if not self.model_path.is_file():
            raise BackendError("load_failed", f"model file not found: {self.model_path}", retryable=False)
        self.port = _free_port()
        self._process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_dies_with_this_process())
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def exit_code(self) -> int | None:
        """The server's exit status once it has exited; None while it runs (or was never started)."""
        return self._process.poll() if self._process is not None else None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not self._log.closed:
            self._log.close()

    def remove_log(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.settings.startup_timeout_s
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    raise BackendError("load_failed", f"llama-server exited with {code} while starting:\n"
                                       f"{self.log_tail()}", retryable=False)
                try:
                    if client.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.2)
        raise BackendError("load_failed", f"llama-server did not become healthy within "
                           f"{self.settings.startup_timeout_s:g} s:\n{self.log_tail()}", retryable=False)

    def __enter__(self) -> "LlamaServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove_log()


PR_SET_PDEATHSIG = 1


def _dies_with_this_process() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send the child SIGTERM when this process dies (Linux).

    The kernel sends it when the *thread* that forked the child ends, so it is set only for a start
    from the main thread (a server started from a worker thread would die with that thread); None
    elsewhere and off Linux."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took hold
            os._exit(1)

    return preexec


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])

