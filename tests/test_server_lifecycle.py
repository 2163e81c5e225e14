"""The server's lifecycle: requests nobody waits for stop their solve between steps, waiting
requests are refused at once on shutdown, and a second Ctrl-C stops the process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from test_server import USER, SlowFake, make_solver, running

from adaswitch.backends.fake import FakeReply, FakeScript
from adaswitch.server import ServerSettings, ServerThread, create_app

def endless(delay_s: float) -> SlowFake:
    """A local model that never finishes: every step is a new calculation, each ``delay_s`` long."""
    rules = [FakeReply(match=rf"Thought {n}:$", text=f" Count.\nAction {n}: calculate[{n} + 1]") for n in range(1, 11)]
    return SlowFake(FakeScript(rules=rules), "endless", delay_s)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def health(srv: ServerThread) -> dict:
    return httpx.get(srv.url + "/health").json()


def step_calls(backend: SlowFake) -> int:
    return sum(1 for request in backend.requests if "Thought" in request.messages[-1].content)


def assert_solve_stopped(srv: ServerThread, local: SlowFake, within_s: float, max_steps: int) -> None:
    """The worker is freed within ``within_s`` and, a while later, the model wrote at most ``max_steps``."""
    wait_until(lambda: health(srv)["in_flight"] == 0, within_s, "the worker being freed")
    time.sleep(0.5)
    assert step_calls(local) <= max_steps


def test_a_request_that_times_out_stops_its_solve_and_frees_its_worker():
    local = endless(0.3)
    with running(make_solver(local=local, with_cloud=False), request_timeout_s=0.2, max_concurrency=1) as srv:
        response = httpx.post(srv.base_url + "/chat/completions", json={"model": "adaswitch-local", "messages": USER})
        assert response.status_code == 504
        # the solve stops after the step under way, long before its ten steps
        assert_solve_stopped(srv, local, 1.5, 2)


def test_a_client_that_goes_away_stops_its_solve():
    local = endless(0.3)
    with running(make_solver(local=local, with_cloud=False), max_concurrency=1) as srv:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(srv.base_url + "/chat/completions", json={"model": "adaswitch-local", "messages": USER},
                       timeout=0.4)
        assert_solve_stopped(srv, local, 2.0, 3)


def test_a_streaming_client_that_goes_away_stops_its_solve():
    local = endless(0.3)
    with running(make_solver(local=local, with_cloud=False), max_concurrency=1) as srv:
        body = {"model": "adaswitch-local", "messages": USER, "stream": True}
        with httpx.stream("POST", srv.base_url + "/chat/completions", json=body, timeout=10) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")  # the role chunk; then hang up
        assert_solve_stopped(srv, local, 2.0, 3)


def test_shutdown_refuses_waiting_requests_at_once_and_finishes_the_one_in_flight():
    settings = ServerSettings(port=0, max_concurrency=1, max_queue=3, graceful_shutdown_s=20)
    srv = ServerThread(create_app(settings, make_solver(local=SlowFake(_two_steps(), "slow", 1.5))), settings).start()
    results: list[tuple[int, dict, float]] = []

    def ask(n: int) -> None:  # three different questions: no answer comes from the response cache
        started = time.monotonic()
        messages = [{"role": "user", "content": f"Ann has 3 apples and buys 4 more ({n}). How many has she?"}]
        reply = httpx.post(srv.base_url + "/chat/completions", json={"model": "adaswitch-local", "messages": messages},
                           timeout=30)
        results.append((reply.status_code, reply.json(), time.monotonic() - started))

    askers = [threading.Thread(target=ask, args=(n,)) for n in range(3)]
    for asker in askers:
        asker.start()
    wait_until(lambda: health(srv)["queued"] == 2 and health(srv)["in_flight"] == 1, 5, "two requests queueing")
    stopping = time.monotonic()
    assert srv.stop()
    for asker in askers:
        asker.join(10)
    codes = sorted(code for code, _, _ in results)
    assert codes == [200, 503, 503]
    refused = [body for code, body, _ in results if code == 503]
    assert all(body["error"]["code"] == "shutting_down" for body in refused)
    answered = next(body for code, body, _ in results if code == 200)
    assert answered["choices"][0]["message"]["content"] == "7"
    assert time.monotonic() - stopping < 5  # nobody waited for the grace period


def _two_steps() -> FakeScript:
    return FakeScript(rules=[FakeReply(match=r"Thought 1:$", text=" Add.\nAction 1: calculate[3 + 4]"),
                             FakeReply(match=r"Thought 2:$", text=" Done.\nAction 2: finish[7]")])


def test_a_second_ctrl_c_stops_the_solves_after_their_step_and_the_server_without_tracebacks(tmp_path):
    rules = [{"match": rf"Thought {n}:$", "text": f" Count.\nAction {n}: calculate[{n} + 1]"} for n in range(1, 11)]
    script = tmp_path / "slow.json"
    script.write_text(json.dumps({"rules": rules, "delay_s": 1.0}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ADASWITCH_PORT": str(port), "ADASWITCH_LOCAL": f"fake:{script}", "ADASWITCH_CLOUD": "fake",
           "ADASWITCH_GRACEFUL_TIMEOUT": "60", "ADASWITCH_LOG_LEVEL": "info"}
    process = subprocess.Popen([sys.executable, "-c", "from adaswitch.cli import main; main()", "serve"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert process.poll() is None, process.stderr.read()
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 30, "the server starting")
        answers: list[httpx.Response] = []
        asker = threading.Thread(target=lambda: _post_quietly(url, answers), daemon=True)
        asker.start()
        wait_until(lambda: httpx.get(url + "/health", timeout=1).json()["in_flight"] == 1, 5, "the solve starting")
        process.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert process.poll() is None  # the first Ctrl-C waits for the request in flight
        second = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert time.monotonic() - second < 5  # the solve stopped after its step, not after ten
        stderr = process.stderr.read()
        assert "Traceback" not in stderr, stderr
        asker.join(5)
        assert [a.status_code for a in answers] == [503] and answers[0].json()["error"]["code"] == "shutting_down"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def _post_quietly(url: str, answers: list[httpx.Response]) -> None:
    try:
        answers.append(httpx.post(url + "/v1/chat/completions", json={"model": "adaswitch-local", "messages": USER},
                                  timeout=60))
    except httpx.TransportError:
        pass
