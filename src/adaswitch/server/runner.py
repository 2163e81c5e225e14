"""Running the app with uvicorn: in the foreground (the CLI) or in a background thread (tests, benchmarks).

Both shut down gracefully: the listening socket closes, requests in flight get up to
``settings.graceful_shutdown_s`` seconds to finish, then the app's lifespan ends.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

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


def serve_forever(app: FastAPI, settings: ServerSettings, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM (call from the main thread, which receives the signals)."""
    uvicorn.Server(uvicorn_config(app, settings, log_level)).run()


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
        self.server = uvicorn.Server(uvicorn_config(app, settings, log_level, access_log=False))
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
