"""The llama-server backend: built binary found, a real server on 127.0.0.1 for SmolLM2-135M that
answers as the in-process backend does, batches concurrent requests, and fails clearly."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adaswitch.backends import EndpointOptions, make_backend
from adaswitch.backends.base import BackendError, CompletionRequest, Message, ProbeRequest
from adaswitch.backends.llama_server_build import (
    SERVER_ENV,
    LlamaServerBuildError,
    cmake_cpu_options,
    find_llama_server,
    read_cpu_flags,
)
from adaswitch.embedded import EmbeddedModelError, resolve_model

SYSTEM = Message(role="system", content="You solve problems step by step.")
QUESTION = Message(role="user", content="Question: Tom has 3 apples and buys 4 more. How many apples does he have?")


# -- a managed process dies with its owner (a stand-in binary that answers /health) -------------

STAND_IN_SERVER = """#!{python}
import http.server, sys
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{{}}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting for a reaper."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_managed_server_dies_with_the_process_that_started_it_even_by_sigkill(tmp_path):
    binary, model = tmp_path / "llama-server", tmp_path / "model.gguf"
    binary.write_text(STAND_IN_SERVER.format(python=sys.executable))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    model.write_bytes(b"GGUF")
    owner = subprocess.Popen([sys.executable, "-c", (
        "import time\n"
        "from adaswitch.backends.llama_server_process import LlamaServerProcess\n"
        f"server = LlamaServerProcess({str(binary)!r}, {str(model)!r}).start()\n"
        "print(server._process.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        assert _running(pid)
        owner.kill()  # SIGKILL: no cleanup code of the owner runs
        owner.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pid)
    finally:
        owner.kill()


# -- finding and building the binary (no server) ------------------------------------------------

def test_a_cpu_with_amx_builds_for_its_avx_features_with_amx_off():
    options = cmake_cpu_options({"avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"})
    assert "-DGGML_NATIVE=OFF" in options
    assert "-DGGML_AVX512=ON" in options and "-DGGML_AVX512_VNNI=ON" in options
    assert "-DGGML_AVX512_BF16=OFF" in options
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(options)


def test_a_cpu_without_amx_builds_natively():
    assert cmake_cpu_options({"avx", "avx2", "fma"}) == ["-DGGML_NATIVE=ON"]


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert read_cpu_flags(info) == {"fpu", "avx2", "amx_tile"}
    assert read_cpu_flags(tmp_path / "missing") == set()


def test_the_binary_named_by_the_environment_must_be_executable(tmp_path, monkeypatch):
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    monkeypatch.setenv(SERVER_ENV, str(binary))
    with pytest.raises(LlamaServerBuildError, match="not an executable"):
        find_llama_server(tmp_path)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    assert find_llama_server(tmp_path) == binary


def test_no_binary_in_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(SERVER_ENV, raising=False)
    assert find_llama_server(tmp_path) is None


def test_the_server_spec_needs_a_model_or_url():
    with pytest.raises(ValueError, match="server:NAME_OR_PATH"):
        make_backend("server:")


# -- a scripted HTTP server: error mapping ------------------------------------------------------

class _Scripted(BaseHTTPRequestHandler):
    status = 500

    def do_GET(self) -> None:  # noqa: N802
        self._reply(200, {"chat_template": None, "total_slots": 2, "model_path": "/models/x.gguf"})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._reply(self.status, {"error": {"message": f"scripted {self.status}"}})

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "kind", "retryable"), [(500, "server_error", True), (503, "server_error", True),
                                                           (400, "invalid_request", False)])
def test_http_errors_become_typed_backend_errors(status, kind, retryable):
    from adaswitch.backends.llama_server import LlamaServerBackend

    handler = type("Handler", (_Scripted,), {"status": status})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        backend = LlamaServerBackend(base_url=f"http://127.0.0.1:{httpd.server_port}")
        assert backend.name == "x" and backend.slots == 2
        with pytest.raises(BackendError) as info:
            backend.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=4))
        assert info.value.kind == kind and info.value.retryable == retryable
        assert f"scripted {status}" in info.value.message
        backend.close()
    finally:
        httpd.shutdown()
        thread.join()


def test_nothing_listening_is_a_retryable_connection_error():
    from adaswitch.backends.llama_server import LlamaServerBackend

    with pytest.raises(BackendError) as info:
        LlamaServerBackend(base_url="http://127.0.0.1:9")
    assert info.value.kind == "connection" and info.value.retryable


# -- a real server on SmolLM2-135M --------------------------------------------------------------

def _binary_and_model():
    try:
        binary = find_llama_server()
        model = resolve_model("smollm2-135m")
    except (LlamaServerBuildError, EmbeddedModelError) as err:
        pytest.skip(str(err))
    if binary is None:
        pytest.skip("llama-server is not built (adaswitch models prepare-server)")
    return binary, model


@pytest.fixture(scope="module")
def server():
    from adaswitch.backends.llama_server import LlamaServerBackend
    from adaswitch.backends.llama_server_process import ServerSettings

    binary, model = _binary_and_model()
    backend = LlamaServerBackend(model_path=model, binary=binary, settings=ServerSettings(parallel=4, n_ctx=2048))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def in_process():
    pytest.importorskip("llama_cpp")
    from adaswitch.backends.llamacpp import LlamaCppBackend

    _, model = _binary_and_model()
    backend = LlamaCppBackend(model, n_ctx=2048, seed=0)
    yield backend
    backend.close()


def test_the_server_writes_what_the_in_process_backend_writes(server, in_process):
    request = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=24, stop=["\n\n"])
    assert server.complete(request).text == in_process.complete(request).text
    assert server.render_prompt(request.messages) == in_process.render_prompt(request.messages)


def test_a_continued_step_under_the_step_grammar_matches_and_parses(server, in_process):
    from adaswitch.grammar import step_grammar
    from adaswitch.parsing import parse_step
    from adaswitch.prompts import prompts_for

    messages = prompts_for("math").step_messages("Tom has 3 apples and buys 4 more. How many apples?", "", 1)
    request = CompletionRequest(messages=messages, continue_final=True, max_tokens=120, grammar=step_grammar("math", 1))
    reply = server.complete(request)
    assert reply.text == in_process.complete(request).text
    parsed = parse_step(f"Thought 1:{reply.text}", "math")
    assert parsed.action is not None and not parsed.repairs, reply.text


def test_log_probabilities_and_probe_agree_with_the_in_process_model(server, in_process):
    request = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=6, logprobs=True, top_logprobs=5)
    served, local = server.complete(request), in_process.complete(request)
    assert served.logprobs and len(served.logprobs) == served.completion_tokens
    for a, b in zip(served.logprobs, local.logprobs):
        assert a.token == b.token and a.logprob == pytest.approx(b.logprob, abs=0.05)
        assert len(a.top) == 5
    probe = ProbeRequest(messages=[SYSTEM, QUESTION], candidates=["Yes", "No"])
    exact = in_process.probe(probe).probs
    read = server.probe(probe)
    assert not read.exact
    for word in ("Yes", "No"):
        assert read.probs[word] == pytest.approx(exact[word], abs=0.02)


def test_a_growing_prompt_reuses_the_slot_cache(server):
    messages = [SYSTEM, QUESTION, Message(role="assistant", content="Thought 1: Tom starts with 3 apples.")]
    server.complete(CompletionRequest(messages=messages, continue_final=True, max_tokens=4))
    messages[-1] = Message(role="assistant", content=messages[-1].content + " He buys 4 more.")
    again = server.complete(CompletionRequest(messages=messages, continue_final=True, max_tokens=4))
    assert 0 < again.recomputed_prompt_tokens < again.prompt_tokens / 2


def test_concurrent_requests_each_get_their_own_answer(server):
    questions = [f"Question: Tom has {n} apples and buys 4 more. How many apples does he have?" for n in range(3, 9)]
    requests = [CompletionRequest(messages=[SYSTEM, Message(role="user", content=q)], max_tokens=16) for q in questions]
    alone = [server.complete(r).text for r in requests]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(server.complete, requests))
    # no slot answers another's question; batched arithmetic may round a near tie the other way
    for n, reply in zip(range(3, 9), together):
        assert reply.text.startswith(f"Tom has {n} apples"), reply.text
    assert sum(c.text == a for c, a in zip(together, alone)) >= len(alone) // 2


def test_a_grammar_the_server_cannot_read_is_a_request_error(server):
    with pytest.raises(BackendError) as info:
        server.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=4, grammar="root ::= ("))
    assert info.value.kind == "invalid_request" and not info.value.retryable


def test_a_model_file_the_server_cannot_load_fails_with_its_log(tmp_path):
    from adaswitch.backends.llama_server import LlamaServerBackend

    binary, _ = _binary_and_model()
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + os.urandom(64))
    with pytest.raises(BackendError) as info:
        LlamaServerBackend(model_path=bogus, binary=binary)
    assert info.value.kind == "load_failed" and "exited" in info.value.message


def test_a_server_that_dies_is_a_final_error_with_its_log():
    from adaswitch.backends.llama_server import LlamaServerBackend
    from adaswitch.backends.llama_server_process import ServerSettings

    binary, model = _binary_and_model()
    backend = LlamaServerBackend(model_path=model, binary=binary, settings=ServerSettings(parallel=1, n_ctx=1024))
    try:
        backend._process._process.kill()
        backend._process._process.wait()
        with pytest.raises(BackendError) as info:
            backend.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=4))
        assert info.value.kind == "server_died" and not info.value.retryable
    finally:
        backend.close()


# -- the gate that keeps two servers from computing at once ------------------------------------

def test_the_gate_lets_one_owner_at_a_time_run_and_batches_its_requests():
    import time

    from adaswitch.backends.cpu_gate import CpuGate

    gate, lock = CpuGate(), threading.Lock()
    running: dict[str, int] = {"a": 0, "b": 0}
    overlaps, peak = [], {"a": 0, "b": 0}

    def request(owner: str) -> None:
        with gate.hold(owner):
            with lock:
                running[owner] += 1
                peak[owner] = max(peak[owner], running[owner])
                overlaps.append(running["a"] and running["b"])
            time.sleep(0.02)
            with lock:
                running[owner] -= 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(request, ["a", "b"] * 20))
    assert not any(overlaps)  # never both owners at once
    assert peak["a"] > 1 and peak["b"] > 1  # several requests of one owner together


def test_a_waiting_owner_gets_the_next_turn():
    import time

    from adaswitch.backends.cpu_gate import CpuGate

    gate, order = CpuGate(), []
    stop = threading.Event()

    def busy() -> None:  # owner "a" keeps sending requests
        while not stop.is_set():
            with gate.hold("a"):
                time.sleep(0.005)

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    started = time.monotonic()
    with gate.hold("b"):
        order.append(time.monotonic() - started)
    stop.set()
    for t in threads:
        t.join()
    assert order and order[0] < 1.0  # not starved by a steady stream of "a"
