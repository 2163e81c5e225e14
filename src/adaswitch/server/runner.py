"""Running the app with uvicorn: in the foreground (the CLI) or in a background thread (tests, benchmarks).

Both shut down gracefully: the listening socket closes, requests still waiting for a worker get a
503 at once, requests in flight get up to ``settings.graceful_shutdown_s`` seconds to finish, then
the app's lifespan ends (and stops any solve still running after its current step). A second
Ctrl-C stops the solves under way after their current step, so the shutdown ends at once; a third
exits without waiting for anything.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI

from adaswitch.server.gate import Gate
from adaswitch.server.settings import ServerSettings


def uvicorn_config(app: FastAPI, settings: ServerSettings, log_level: str = "info", access_log: bool = True) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        lifespan="on",
    )


class GracefulServer(uvicorn.Server):
    """uvicorn's server, telling the app's admission gate when shutdown begins, and stopping the
    solves under way on a second Ctrl-C (after their current step: their requests get a 503 and the
    shutdown ends normally, without tracebacks). A third Ctrl-C exits at once, as uvicorn does."""

    def __init__(self, config: uvicorn.Config, app: FastAPI):
        super().__init__(config)
        self._app = app
        self._interrupts = 0

    def _gate(self) -> Gate | None:
        return getattr(self._app.state, "gate", None)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if (gate := self._gate()) is not None:
            gate.begin_shutdown()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGINT:
            self._interrupts += 1
            gate = self._gate()
            if self._interrupts == 2 and gate is not None:
                gate.cancel_all()
                return
        super().handle_exit(sig, frame)


def serve_forever(app: FastAPI, settings: ServerSettings, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM (call from the main thread, which receives the signals)."""
    GracefulServer(uvicorn_config(app, settings, log_level), app).run()


class ServerThread:
    """Serve ``app`` on ``settings.host`` (port 0: a free one) from a background thread.

    Use as a context manager; :attr:`base_url` is the OpenAI base URL (``http://HOST:PORT/v1``).
    """

    def __init__(self, app: FastAPI, settings: ServerSettings, log_level: str = "warning", start_timeout_s: float = 30.0):
        self.settings = settings
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((settings.host, settings.port))
        self.port: int = self._socket.getsockname()[1]
        self.server = GracefulServer(uvicorn_config(app, settings, log_level, access_log=False), app)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        name="adaswitch-server", daemon=True)
        self._start_timeout_s = start_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> bool:
        """Shut down gracefully; True when the thread ended within the grace period (plus a margin)."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self.settings.graceful_shutdown_s + 10.0)
        self._socket.close()
        return not self._thread.is_alive()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
