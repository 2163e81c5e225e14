"""A real, scriptable, misbehaving OpenAI-compatible HTTP server for tests and benchmarks.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` on 127.0.0.1. Each chat request
consumes one scripted :class:`Behaviour` from a queue; once the queue is empty the ``default``
answers (a behaviour, or a callable that builds one from the request body)::

    with FaultServer() as server:
        server.script(status(503), delay(2.0), ok("42"))
        client = OpenAI(base_url=server.base_url, api_key="x")
        ...
        assert server.requests[0]["model"] == "m"

Every chat request body is recorded in :attr:`FaultServer.requests`. The server speaks HTTP/1.0
(one request per connection), so stopping it never waits on an idle keep-alive connection; a
handler sleeping in :func:`delay` is woken by :meth:`FaultServer.stop`.

Run ``python tests/faultserver.py [--port N]`` to serve the default behaviour in the foreground.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

AUTO: Literal["auto"] = "auto"
"""Usage marker: compute usage from the request and reply lengths."""

Kind = Literal[
    "ok", "delay", "status", "drop", "truncated", "invalid_json", "no_choices", "null_content"
]


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one chat request. Build these with the functions below."""

    kind: Kind
    text: str = ""
    logprobs: list[dict[str, float]] | None = None
    usage: dict[str, Any] | Literal["auto"] | None = AUTO
    finish_reason: str = "stop"
    seconds: float = 0.0
    then: Behaviour | None = None
    code: int = 200
    body: str | bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    close_early: bool = True


def ok(
    text: str = "OK",
    logprobs: list[dict[str, float]] | None = None,
    usage: dict[str, Any] | Literal["auto"] | None = AUTO,
    finish_reason: str = "stop",
) -> Behaviour:
    """A valid chat completion.

    ``logprobs`` holds one ``{token: logprob}`` dict per generated token; the most likely token is
    reported as chosen, and the dict (cut to the request's ``top_logprobs``) as its top list. As
    real servers do, log-probs are only sent when the request asks for them. ``usage`` is a
    usage object, ``"auto"`` (lengths divided by four) or None (no usage field at all).
    """
    return Behaviour("ok", text=text, logprobs=logprobs, usage=usage, finish_reason=finish_reason)


def delay(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait ``seconds`` before answering with ``then`` (default: ``ok()``)."""
    return Behaviour("delay", seconds=seconds, then=then or ok())


def status(
    code: int, body: str | bytes | dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Behaviour:
    """An HTTP error status with an OpenAI-style error body unless ``body`` is given.

    For a rate limit with a hint: ``status(429, headers={"Retry-After": "3"})``.
    """
    return Behaviour("status", code=code, body=body, headers=dict(headers or {}))


def drop(reset: bool = False) -> Behaviour:
    """Read the request, then close the socket without any response (``reset``: send a TCP RST)."""
    return Behaviour("drop", reset=reset)


def truncated(close_early: bool = True) -> Behaviour:
    """A 200 carrying half of a valid JSON body.

    ``close_early`` (default): Content-Length announces the whole body and the socket closes after
    half of it. Otherwise Content-Length matches the half body (a complete HTTP message whose JSON
    is cut).
    """
    return Behaviour("truncated", close_early=close_early)


def invalid_json() -> Behaviour:
    """A 200 labelled application/json whose body is not JSON."""
    return Behaviour("invalid_json")


def no_choices() -> Behaviour:
    """A 200 JSON completion object without a ``choices`` field."""
    return Behaviour("no_choices")


def null_content() -> Behaviour:
    """A 200 completion whose message content is null."""
    return Behaviour("null_content")


Default = Behaviour | Callable[[dict[str, Any]], Behaviour]


class FaultServer:
    """A threaded OpenAI-compatible server on 127.0.0.1 whose answers are scripted per request."""

    def __init__(self, default: Default | None = None, *, port: int = 0, model: str = "fault-model"):
        self.default: Default = default or ok()
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` of this server (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def last_request(self) -> dict[str, Any]:
        with self._lock:
            return self.requests[-1]

    def script(self, *behaviours: Behaviour) -> FaultServer:
        """Queue behaviours, consumed one per chat request in order."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def pending(self) -> int:
        """Scripted behaviours not yet consumed."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued behaviours and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def start(self) -> FaultServer:
        """Serve in a background thread; returns at once."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="faultserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and wait for every server thread to end."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            if self._queue:
                return self._queue.popleft()
        return self.default(body) if callable(self.default) else self.default


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close()
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type, fault: FaultServer):
        super().__init__(address, handler)
        self.fault = fault


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.0"
    timeout = 10  # bounds reads from a silent client, so stop() cannot hang on it

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": self.server.fault.model, "object": "model", "created": 0, "owned_by": "faultserver"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(404, f"no route {self.path}"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error_body(404, f"no route {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self._answer(self.server.fault._next(body), body)

    def _answer(self, behaviour: Behaviour, request: dict[str, Any]) -> None:
        kind = behaviour.kind
        if kind == "delay":
            if self.server.fault._stopping.wait(behaviour.seconds):
                return  # shutting down: close without answering
            self._answer(behaviour.then or ok(), request)
        elif kind == "ok":
            self._send_json(200, _completion(behaviour, request))
        elif kind == "status":
            self._send_status(behaviour)
        elif kind == "drop":
            self._drop(behaviour.reset)
        elif kind == "truncated":
            self._send_truncated(behaviour, request)
        elif kind == "invalid_json":
            self._send_bytes(200, b"<html><body>502 upstream gone</body></html> {not json", "application/json")
        elif kind == "no_choices":
            payload = _completion(ok(), request)
            del payload["choices"]
            self._send_json(200, payload)
        elif kind == "null_content":
            payload = _completion(ok(), request)
            payload["choices"][0]["message"]["content"] = None
            self._send_json(200, payload)
        else:
            raise ValueError(f"unknown behaviour {kind!r}")

    def _send_status(self, behaviour: Behaviour) -> None:
        body = behaviour.body if behaviour.body is not None else _error_body(behaviour.code)
        if isinstance(body, dict):
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            ctype = "text/plain; charset=utf-8"
        self._send_bytes(behaviour.code, data, ctype, behaviour.headers)

    def _send_truncated(self, behaviour: Behaviour, request: dict[str, Any]) -> None:
        full = json.dumps(_completion(ok("a reply that will be cut in half"), request)).encode()
        half = full[: len(full) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(full) if behaviour.close_early else len(half)))
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        if behaviour.close_early:
            self.connection.shutdown(socket.SHUT_WR)

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _send_json(self, code: int, payload: dict[str, Any]) -> None:
        self._send_bytes(code, json.dumps(payload).encode(), "application/json")

    def _send_bytes(self, code: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was closed on purpose (drop, truncated)


def _error_body(code: int, message: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message or f"fault server says {code}", "type": "fault", "code": code}}


def _completion(behaviour: Behaviour, request: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object answering ``request`` as ``behaviour`` says."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": behaviour.text},
        "logprobs": _logprobs(behaviour.logprobs, request),
        "finish_reason": behaviour.finish_reason,
    }
    payload: dict[str, Any] = {
        "id": f"chatcmpl-fault-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fault-model"),
        "choices": [choice],
    }
    usage = _auto_usage(behaviour.text, request) if behaviour.usage == AUTO else behaviour.usage
    if usage is not None:
        payload["usage"] = usage
    return payload


def _auto_usage(text: str, request: dict[str, Any]) -> dict[str, int]:
    prompt_chars = sum(len(str(m.get("content") or "")) for m in request.get("messages", []))
    prompt, completion = max(1, prompt_chars // 4), max(1, len(text) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _logprobs(tokens: list[dict[str, float]] | None, request: dict[str, Any]) -> dict[str, Any] | None:
    if not tokens or not request.get("logprobs"):
        return None
    top_n = int(request.get("top_logprobs") or 0)
    content = []
    for top in tokens:
        ranked = sorted(top.items(), key=lambda item: item[1], reverse=True)
        chosen, chosen_lp = ranked[0]
        content.append(
            {
                "token": chosen,
                "logprob": chosen_lp,
                "bytes": list(chosen.encode()),
                "top_logprobs": [
                    {"token": tok, "logprob": lp, "bytes": list(tok.encode())} for tok, lp in ranked[:top_n]
                ],
            }
        )
    return {"content": content}


def main() -> None:
    """Serve the default behaviour in the foreground until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="OK", help="reply text of every request")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args()
    default = delay(args.delay, ok(args.text)) if args.delay > 0 else ok(args.text)
    with FaultServer(default, port=args.port) as server:
        print(f"fault server on {server.base_url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
