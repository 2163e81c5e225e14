"""The OpenAI-compatible server, run for real with uvicorn on 127.0.0.1 and driven by the official client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from adaswitch.backends.base import BackendError, Completion, CompletionRequest
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.server import ServerSettings, ServerThread, create_app
from adaswitch.solver import EndpointSettings, Solver, SolverSettings

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"
USER = [{"role": "user", "content": QUESTION}]


def step(n: int, text: str) -> FakeReply:
    return FakeReply(match=rf"Thought {n}:$", text=text)


def judge(n: int, p_no: float) -> FakeReply:
    return FakeReply(match=rf"step {n}\b", probs={"Yes": 1 - p_no, "No": p_no})


class SlowFake(FakeBackend):
    """A fake model that takes ``delay_s`` seconds per completion."""

    def __init__(self, script: FakeScript, name: str, delay_s: float):
        super().__init__(script, name)
        self.delay_s = delay_s

    def complete(self, request: CompletionRequest) -> Completion:
        time.sleep(self.delay_s)
        return super().complete(request)


class DownCloud(FakeBackend):
    def complete(self, request: CompletionRequest) -> Completion:
        raise BackendError("connection", "the cloud is unreachable", retryable=True)


def local_fake(delay_s: float = 0.0) -> FakeBackend:
    script = FakeScript(
        rules=[step(1, " She adds the apples.\nAction 1: calculate[3 + 4]"), step(2, " She has 7.\nAction 2: finish[7]")],
        probe_rules=[judge(1, 0.9), judge(2, 0.1)],
    )
    return SlowFake(script, "fake-local", delay_s)


def cloud_fake() -> FakeBackend:
    script = FakeScript(rules=[step(1, " Add 3 and 4.\nAction 1: calculate[4 + 3]"), step(2, " The total is 7.\nAction 2: finish[7]")])
    return FakeBackend(script, name="fake-cloud")


def make_solver(local: FakeBackend | None = None, cloud: FakeBackend | None = None, with_cloud: bool = True,
                **settings: object) -> Solver:
    solver_settings = SolverSettings(local="fake", cloud="fake" if with_cloud else None,
                                     cloud_endpoint=EndpointSettings(max_attempts=1), **settings)  # type: ignore[arg-type]
    return Solver(solver_settings, local=local or local_fake(), cloud=(cloud or cloud_fake()) if with_cloud else None)


@contextmanager
def running(solver: Solver | None = None, **settings: object) -> Iterator[ServerThread]:
    server_settings = ServerSettings(port=0, **settings)  # type: ignore[arg-type]
    with ServerThread(create_app(server_settings, solver or make_solver()), server_settings) as server:
        yield server


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with running() as srv:
        yield srv


def client(srv: ServerThread, key: str = "unused") -> OpenAI:
    return OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=30)


def trace_of(response: object) -> dict:
    return response.model_extra["adaswitch"]["trace"]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- the happy paths


def test_models_list_names_the_modes(server: ServerThread):
    assert [m.id for m in client(server).models.list().data] == [
        "adaswitch", "adaswitch-self-reflection", "adaswitch-random", "adaswitch-local", "adaswitch-cloud"]
    assert client(server).models.retrieve("adaswitch@0.3").model_extra["adaswitch"]["value"] == 0.3
    with running(make_solver(with_cloud=False)) as local_only:
        assert [m.id for m in client(local_only).models.list().data] == ["adaswitch-self-reflection", "adaswitch-local"]
        with pytest.raises(openai.NotFoundError):
            client(local_only).chat.completions.create(model="adaswitch", messages=USER)


def test_sync_completion_has_the_answer_usage_and_trace(server: ServerThread):
    response = client(server).chat.completions.create(model="adaswitch@0.5", messages=USER)
    assert response.object == "chat.completion" and response.model == "adaswitch@0.5"
    assert response.choices[0].message.content == "7" and response.choices[0].finish_reason == "stop"
    trace = trace_of(response)
    assert trace["mode"] == "adaswitch" and trace["threshold"] == 0.5 and trace["family"] == "math"
    assert [s["author"] for s in trace["steps"]] == ["cloud", "local"]  # p(error) 0.9 then 0.1
    per_agent = response.usage.model_extra["adaswitch"]
    assert per_agent["cloud"]["calls"] == 1 and per_agent["local"]["calls"] == 4  # 2 steps + 2 judgments
    assert response.usage.prompt_tokens == per_agent["local"]["prompt_tokens"] + per_agent["cloud"]["prompt_tokens"]
    assert response.usage.completion_tokens == per_agent["local"]["completion_tokens"] + per_agent["cloud"]["completion_tokens"]
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0
    assert response.model_extra["adaswitch"]["explanation"] is None


def test_each_request_has_its_own_trace_id_even_for_the_same_question(server: ServerThread):
    first = client(server).chat.completions.create(model="adaswitch-local", messages=USER)
    second = client(server).chat.completions.create(model="adaswitch-local", messages=USER)
    assert trace_of(first)["id"] == first.id and trace_of(second)["id"] == second.id
    assert first.id != second.id


@pytest.mark.parametrize(
    ("model", "mode", "authors", "parameter"),
    [
        ("adaswitch", "adaswitch", ["cloud", "local"], ("threshold", 0.5)),  # the server default
        ("adaswitch@0.95", "adaswitch", ["local", "local"], ("threshold", 0.95)),
        ("adaswitch-local", "local", ["local", "local"], None),
        ("adaswitch-cloud", "cloud", ["cloud", "cloud"], None),
        ("adaswitch-self-reflection@0.5", "self-reflection", ["local", "local"], ("threshold", 0.5)),
        ("adaswitch-random@1", "random", ["cloud", "cloud"], ("switch_rate", 1.0)),
        ("adaswitch-random@0.0", "random", ["local", "local"], ("switch_rate", 0.0)),
    ],
)
def test_the_model_name_selects_mode_and_parameter(server: ServerThread, model, mode, authors, parameter):
    trace = trace_of(client(server).chat.completions.create(model=model, messages=USER))
    assert trace["mode"] == mode and [s["author"] for s in trace["steps"]] == authors
    if parameter and parameter[0] == "threshold":
        assert trace["threshold"] == parameter[1]
    if parameter and parameter[0] == "switch_rate":
        assert trace["settings"]["switch_rate"] == parameter[1]


def test_the_extension_overrides_threshold_and_family(server: ServerThread):
    response = client(server).chat.completions.create(
        model="adaswitch@0.05", messages=[{"role": "system", "content": "Some context."}, *USER],
        extra_body={"adaswitch": {"threshold": 0.95, "family": "math"}})
    trace = trace_of(response)
    assert trace["threshold"] == 0.95 and trace["family"] == "math"
    assert [s["author"] for s in trace["steps"]] == ["local", "local"]


def test_async_clients_are_served_concurrently(server: ServerThread):
    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=30) as aclient:
            replies = await asyncio.gather(
                *(aclient.chat.completions.create(model="adaswitch", messages=USER) for _ in range(6)))
        return [r.choices[0].message.content for r in replies]

    assert asyncio.run(main()) == ["7"] * 6


def test_streaming_sends_each_step_before_the_answer():
    with running(make_solver(local=local_fake(delay_s=0.3))) as srv:
        started = time.monotonic()
        chunks = []
        for chunk in client(srv).chat.completions.create(
                model="adaswitch-local", messages=USER, stream=True, stream_options={"include_usage": True}):
            chunks.append((time.monotonic() - started, chunk))
    kinds = [(c.model_extra.get("adaswitch") or {}).get("kind") for _, c in chunks]
    assert kinds == ["start", "step", "step", "answer", "final", None]
    first_step_at, answer_at = chunks[1][0], chunks[3][0]
    assert answer_at - first_step_at > 0.2  # step 1 came while step 2 was still being written
    steps = [c for _, c in chunks[1:3]]
    assert [c.model_extra["adaswitch"]["author"] for c in steps] == ["local", "local"]
    # the steps travel in the extension; the content of the stream is the answer alone
    assert steps[0].model_extra["adaswitch"]["text"].endswith("Action 1: calculate[3 + 4]\nObservation 1: 7\n")
    assert all(not c.choices[0].delta.content for c in steps)
    assert chunks[3][1].choices[0].delta.content == "7"
    assert chunks[4][1].choices[0].finish_reason == "stop" and chunks[4][1].model_extra["adaswitch"]["trace"]["answer"] == "7"
    usage_chunk = chunks[5][1]
    assert usage_chunk.choices == [] and usage_chunk.usage.total_tokens > 0
    assert usage_chunk.usage.model_extra["adaswitch"]["local"]["calls"] == 2


def test_streaming_without_usage_ends_with_the_finish(server: ServerThread):
    chunks = list(client(server).chat.completions.create(model="adaswitch", messages=USER, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == client(server).chat.completions.create(model="adaswitch", messages=USER).choices[0].message.content == "7"


def test_a_client_leaving_a_stream_frees_its_worker():
    with running(make_solver(local=local_fake(delay_s=0.2)), max_concurrency=1, max_queue=0) as srv:
        body = {"model": "adaswitch-local", "messages": USER, "stream": True}
        with httpx.stream("POST", srv.base_url + "/chat/completions", json=body, timeout=10) as response:
            assert response.status_code == 200
            next(response.iter_lines())  # the first chunk, then hang up
        deadline = time.monotonic() + 5
        while (health := httpx.get(srv.url + "/health").json())["in_flight"] or health["queued"]:
            assert time.monotonic() < deadline, health
            time.sleep(0.05)
        assert health["status"] == "ok" and "adaswitch-local" in health["models"]
        assert client(srv).chat.completions.create(model="adaswitch-local", messages=USER).choices[0].message.content == "7"


def test_qa_context_from_json_or_paragraphs():
    script = FakeScript(rules=[step(1, " Find the tower.\nAction 1: search[Eiffel Tower]"),
                               step(2, " It is in Paris.\nAction 2: finish[Paris]")])
    solver = make_solver(local=FakeBackend(script, "fake-qa"), with_cloud=False)
    paragraphs = [{"title": "Eiffel Tower", "text": "The Eiffel Tower is in Paris."},
                  {"title": "Big Ben", "text": "Big Ben is in London."}]
    question = {"role": "user", "content": "In which city is the Eiffel Tower?"}
    with running(solver) as srv:
        for context in ({"role": "system", "content": json.dumps(paragraphs)},
                        {"role": "user", "content": "Title: Big Ben\nBig Ben is in London.\n\nThe Eiffel Tower is in Paris."}):
            response = client(srv).chat.completions.create(model="adaswitch-local", messages=[context, question])
            trace = trace_of(response)
            assert trace["family"] == "qa" and response.choices[0].message.content == "Paris"
            assert "The Eiffel Tower is in Paris." in trace["steps"][0]["observation"]
        with pytest.raises(openai.BadRequestError) as error:
            client(srv).chat.completions.create(model="adaswitch-local", messages=[question],
                                                extra_body={"adaswitch": {"family": "qa"}})
        assert error.value.code == "missing_context"


def test_no_answer_is_an_empty_content_with_an_explanation():
    script = FakeScript(default=FakeReply(text=" I keep thinking about it."))
    solver = make_solver(local=FakeBackend(script, "fake-loop"), with_cloud=False, max_steps=2)
    context = {"role": "system", "content": "Title: Eiffel Tower\nThe Eiffel Tower is in Paris."}  # qa: no fallback
    with running(solver) as srv:
        response = client(srv).chat.completions.create(model="adaswitch-local", messages=[context, *USER])
    assert response.choices[0].message.content == "" and response.choices[0].finish_reason == "length"
    assert trace_of(response)["status"] == "max_steps"
    assert "no answer within 2 steps" in response.model_extra["adaswitch"]["explanation"]


# ----------------------------------------------------------------------------- errors


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_bad_requests_get_openai_error_bodies(server: ServerThread):
    url = server.base_url + "/chat/completions"
    assert_error(httpx.post(url, content=b'{"model": "adaswitch", "messages": ['), 400, "invalid_json")
    assert_error(httpx.post(url, content=b"\xff\xfe"), 400, "invalid_json")
    assert_error(httpx.post(url, json=[1, 2]), 400, "invalid_json")
    assert_error(httpx.post(url, json={"model": "adaswitch", "messages": []}), 400, "missing_user_message")
    assert_error(httpx.post(url, json={"model": "adaswitch", "messages": [{"role": "system", "content": "x"}]}), 400)
    for model in ("gpt-4o", "adaswitch@1.5", "adaswitch@x", "adaswitch-local@0.3"):
        assert assert_error(httpx.post(url, json={"model": model, "messages": USER}), 404, "model_not_found")["param"] == "model"
    invalid = [
        ({"model": "adaswitch", "messages": "hello"}, "messages"),
        ({"model": 3, "messages": USER}, "model"),
        ({"model": "adaswitch", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "adaswitch", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"model": "adaswitch", "messages": USER, "adaswitch": {"threshold": 1.5}}, "adaswitch.threshold"),
        ({"model": "adaswitch", "messages": USER, "adaswitch": {"threshold": "high"}}, "adaswitch.threshold"),
        ({"model": "adaswitch", "messages": USER, "adaswitch": {"family": "poetry"}}, "adaswitch.family"),
        ({"messages": USER}, "model"),
    ]
    for body, param in invalid:
        assert assert_error(httpx.post(url, json=body), 400)["param"] == param
    assert_error(httpx.get(server.base_url + "/nowhere"), 404)
    # the official client sees the same statuses as typed exceptions
    with pytest.raises(openai.BadRequestError) as error:
        client(server).chat.completions.create(model="adaswitch", messages=USER, extra_body={"adaswitch": {"threshold": -0.1}})
    assert error.value.param == "adaswitch.threshold"
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="adaswitch-oracle", messages=USER)


def test_standard_parameters_are_validated_and_what_cannot_be_done_is_refused(server: ServerThread):
    url = server.base_url + "/chat/completions"
    for field, value in (("temperature", "hot"), ("temperature", 3), ("max_tokens", 0), ("top_p", 1.5),
                         ("stop", ["a", "b", "c", "d", "e"]), ("seed", "x")):
        assert assert_error(httpx.post(url, json={"model": "adaswitch", "messages": USER, field: value}), 400)["param"] == field
    for field, value in (("n", 2), ("tools", [{"type": "function", "function": {"name": "f"}}]),
                         ("tool_choice", "required")):
        error = assert_error(httpx.post(url, json={"model": "adaswitch", "messages": USER, field: value}), 400,
                             "unsupported_parameter")
        assert error["param"] == field
    ok = {"model": "adaswitch", "messages": USER, "temperature": 0.2, "top_p": 1, "max_tokens": 50, "seed": 1, "n": 1}
    assert httpx.post(url, json=ok).status_code == 200
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="adaswitch", messages=USER, n=3)


def test_max_tokens_bounds_what_the_agents_write_and_seed_seeds_the_question(server: ServerThread):
    full = client(server).chat.completions.create(model="adaswitch-local", messages=USER)
    assert full.choices[0].finish_reason == "stop" and full.usage.completion_tokens > 4
    for field in ("max_tokens", "max_completion_tokens"):
        cut = client(server).chat.completions.create(model="adaswitch-local", messages=USER, **{field: 4})
        assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 4
        assert trace_of(cut)["status"] == "max_tokens"
        assert "max_tokens ran out" in cut.model_extra["adaswitch"]["explanation"]
    # random switching follows the request's seed: the same seed, the same authors
    authors = {seed: [[s["author"] for s in trace_of(client(server).chat.completions.create(
        model="adaswitch-random@0.5", messages=USER, seed=seed))["steps"]] for _ in range(2)] for seed in range(8)}
    assert all(a == b for a, b in authors.values())
    assert len({tuple(a) for a, _ in authors.values()}) > 1


def test_temperature_is_that_of_what_the_mode_samples():
    local = local_fake()
    with running(make_solver(local=local)) as srv:
        client(srv).chat.completions.create(model="adaswitch-self-reflection@0.5", messages=USER, temperature=1.2)
    # step 1 is doubted (p = 0.9): its retries sample at the request's temperature; the steps are greedy
    assert {r.temperature for r in local.requests if hasattr(r, "temperature")} == {0.0, 1.2}


def test_stop_sequences_cut_the_answer(server: ServerThread):
    response = client(server).chat.completions.create(model="adaswitch", messages=USER, stop=["7"])
    assert response.choices[0].message.content == "" and trace_of(response)["answer"] == "7"
    chunks = list(client(server).chat.completions.create(model="adaswitch", messages=USER, stream=True, stop="7"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ""


def test_a_conversation_with_earlier_turns_is_refused_not_misread(server: ServerThread):
    messages = [{"role": "user", "content": "Ann bakes 48 cupcakes and sells half. How many are left?"},
                {"role": "assistant", "content": "24"},
                {"role": "user", "content": "And if she bakes 3 fewer?"}]
    with pytest.raises(openai.BadRequestError) as error:
        client(server).chat.completions.create(model="adaswitch", messages=messages)
    assert error.value.code == "multi_turn_unsupported"


def test_an_ordinary_system_prompt_keeps_the_math_family(server: ServerThread):
    system = {"role": "system", "content": "You are a helpful math tutor.\n\nAlways answer with a number."}
    response = client(server).chat.completions.create(model="adaswitch", messages=[system, *USER])
    assert trace_of(response)["family"] == "math" and response.choices[0].message.content == "7"


def test_a_question_too_long_for_the_local_model_is_a_400_before_any_model_call():
    local = local_fake()
    local.context_size = 1000  # the fake counts words; the prompt of a short question has about 450
    with running(make_solver(local=local)) as srv:
        long_question = "Ann counts apples. " * 300 + QUESTION
        with pytest.raises(openai.BadRequestError) as error:
            client(srv).chat.completions.create(model="adaswitch", messages=[{"role": "user", "content": long_question}])
        assert error.value.code == "context_length_exceeded" and "prompt tokens" in error.value.message
        assert local.requests == []  # refused before the model saw it
        assert client(srv).chat.completions.create(model="adaswitch", messages=USER).choices[0].message.content == "7"


def test_bodies_over_the_limit_get_413_by_header_or_by_size():
    with running(max_body_bytes=2048) as srv:
        url = srv.base_url + "/chat/completions"
        big = json.dumps({"model": "adaswitch", "messages": [{"role": "user", "content": "x" * 5000}]}).encode()
        assert_error(httpx.post(url, content=big), 413, "request_too_large")
        chunked = httpx.post(url, content=iter([big[:1500], big[1500:3000], big[3000:]]))  # no Content-Length
        assert_error(chunked, 413, "request_too_large")
        assert httpx.post(url, json={"model": "adaswitch", "messages": USER}).status_code == 200


def test_bearer_auth_when_an_api_key_is_set():
    with running(api_key="s3cret") as srv:
        assert client(srv, "s3cret").chat.completions.create(model="adaswitch", messages=USER).choices[0].message.content == "7"
        with pytest.raises(openai.AuthenticationError):
            client(srv, "wrong").models.list()
        assert_error(httpx.get(srv.base_url + "/models"), 401, "invalid_api_key")
        assert_error(httpx.post(srv.base_url + "/chat/completions", content=b"{bad"), 401)  # auth comes first
        assert httpx.get(srv.url + "/health").status_code == 200


def test_a_failed_cloud_is_503_when_the_question_fails():
    with running(make_solver(cloud=DownCloud(name="down"), on_cloud_error="fail")) as srv:
        with pytest.raises(openai.InternalServerError) as error:
            client(srv).chat.completions.create(model="adaswitch", messages=USER)
        assert error.value.status_code == 503 and error.value.code == "cloud_unavailable"
        with pytest.raises(openai.APIError, match="cloud model failed"):
            list(client(srv).chat.completions.create(model="adaswitch", messages=USER, stream=True))
        # a question the local agent answers alone does not need the cloud
        assert client(srv).chat.completions.create(model="adaswitch-local", messages=USER).choices[0].message.content == "7"
    with running(make_solver(cloud=DownCloud(name="down"))) as srv:  # fallback: the local step is kept
        response = client(srv).chat.completions.create(model="adaswitch", messages=USER)
        assert response.choices[0].message.content == "7" and trace_of(response)["steps"][0]["faults"]


def test_a_request_that_takes_too_long_is_504():
    with running(make_solver(local=local_fake(delay_s=0.4)), request_timeout_s=0.2) as srv:
        with pytest.raises(openai.APIStatusError) as error:
            client(srv).chat.completions.create(model="adaswitch-local", messages=USER)
        assert error.value.status_code == 504


# ----------------------------------------------------------------------------- load and lifecycle


async def _burst(srv: ServerThread, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as http:
        return await asyncio.gather(*(
            http.post(srv.base_url + "/chat/completions", json={"model": "adaswitch-local", "messages": USER})
            for _ in range(n)))


def test_saturation_gives_429_and_a_queue_lets_requests_wait():
    with running(make_solver(local=local_fake(delay_s=0.1)), max_concurrency=1, max_queue=0, retry_after_s=2) as srv:
        replies = asyncio.run(_burst(srv, 4))
        assert sorted(r.status_code for r in replies) == [200, 429, 429, 429]
        refused = next(r for r in replies if r.status_code == 429)
        assert refused.headers["retry-after"] == "2"
        assert_error(refused, 429, "server_saturated")
    with running(make_solver(local=local_fake(delay_s=0.1)), max_concurrency=1, max_queue=3) as srv:
        started = time.monotonic()
        replies = asyncio.run(_burst(srv, 4))
        assert [r.status_code for r in replies] == [200] * 4
        assert time.monotonic() - started > 4 * 2 * 0.1 * 0.9  # one at a time: they waited in the queue
        health = httpx.get(srv.url + "/health").json()
        assert health["in_flight"] == 0 and health["queued"] == 0 and health["max_concurrency"] == 1


def test_graceful_shutdown_finishes_the_request_in_flight():
    srv = ServerThread(create_app(ServerSettings(port=0), make_solver(local=local_fake(delay_s=0.5))),
                       ServerSettings(port=0, graceful_shutdown_s=10)).start()
    result: dict = {}

    def ask() -> None:
        try:
            result["response"] = client(srv).chat.completions.create(model="adaswitch-local", messages=USER)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            result["error"] = error

    asker = threading.Thread(target=ask)
    asker.start()
    deadline = time.monotonic() + 5
    while httpx.get(srv.url + "/health").json()["in_flight"] == 0:
        assert time.monotonic() < deadline, "the request never started"
        time.sleep(0.02)
    assert srv.stop()  # returns once the server has shut down
    asker.join(10)
    assert "error" not in result and result["response"].choices[0].message.content == "7"
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.url + "/health")


def test_import_and_help_do_not_load_the_server_stack():
    code = ("import sys, adaswitch, adaswitch.server\n"
            "from adaswitch.cli import _register, cli\n_register()\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules, 'server stack imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_the_serve_command_runs_and_stops_on_sigint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ADASWITCH_PORT": str(port), "ADASWITCH_LOCAL": "fake", "ADASWITCH_CLOUD": "fake",
           "ADASWITCH_MAX_QUEUE": "2", "ADASWITCH_LOG_LEVEL": "warning"}
    process = subprocess.Popen([sys.executable, "-c", "from adaswitch.cli import main; main()", "serve"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
                time.sleep(0.1)
        assert health["max_queue"] == 2 and health["max_concurrency"] == 8 and health["local"] == "fake"
        reply = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0).chat.completions.create(
            model="adaswitch-local", messages=USER)
        assert reply.choices[0].message.content == "unknown"  # the bare fake's default reply
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
