"""OpenAIBackend against a real, misbehaving local HTTP server (tests/faultserver.py)."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate

import pytest
from faultserver import (
    FaultServer,
    delay,
    drop,
    invalid_json,
    no_choices,
    null_content,
    ok,
    status,
    truncated,
)

from adaswitch.backends.base import BackendError, CompletionRequest, Message, ProbeRequest
from adaswitch.backends.openai_compat import (
    FOLD_HEADER,
    FOLD_INSTRUCTION,
    OpenAIBackend,
    parse_retry_after,
    repeated_prefix_length,
)

Make = Callable[..., OpenAIBackend]


@pytest.fixture
def make(fault_server: FaultServer) -> Iterator[Make]:
    """Build backends pointed at the fault server; all are closed after the test."""
    made: list[OpenAIBackend] = []

    def build(**kwargs: object) -> OpenAIBackend:
        kwargs.setdefault("base_url", fault_server.base_url)
        kwargs.setdefault("timeout_s", 5.0)
        backend = OpenAIBackend("test-model", **kwargs)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def ask(text: str = "What is 2+2?", **kwargs: object) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="user", content=text)], **kwargs)  # type: ignore[arg-type]


def partial(user: str, assistant: str, **kwargs: object) -> CompletionRequest:
    messages = [Message(role="user", content=user), Message(role="assistant", content=assistant)]
    return CompletionRequest(messages=messages, continue_final=True, **kwargs)  # type: ignore[arg-type]


def failure(backend: OpenAIBackend, request: CompletionRequest | None = None) -> BackendError:
    with pytest.raises(BackendError) as info:
        backend.complete(request or ask())
    return info.value


# -- happy path ---------------------------------------------------------------------------------


def test_text_usage_and_sent_fields(fault_server: FaultServer, make: Make) -> None:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 7,
        "total_tokens": 127,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    fault_server.script(ok("The answer is 4.", usage=usage))
    backend = make(name="cloud", parameters=7_000_000_000)
    result = backend.complete(ask(max_tokens=33, temperature=0.7, seed=5))
    assert result.text == "The answer is 4."
    assert (result.prompt_tokens, result.completion_tokens, result.recomputed_prompt_tokens) == (120, 7, 20)
    assert result.finish_reason == "stop" and result.logprobs is None and result.latency_s > 0
    assert (backend.name, backend.parameters) == ("cloud", 7_000_000_000)
    sent = fault_server.last_request
    assert sent["model"] == "test-model" and sent["max_tokens"] == 33 and sent["seed"] == 5
    assert sent["temperature"] == 0.7 and sent["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert "stop" not in sent and "logprobs" not in sent


def test_length_finish_and_usage_without_cache(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok("cut off", finish_reason="length", usage={"prompt_tokens": 9, "completion_tokens": 2}))
    result = make().complete(ask())
    assert result.finish_reason == "length"
    assert result.recomputed_prompt_tokens == result.prompt_tokens == 9


def test_missing_usage_is_estimated(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok("x" * 40, usage=None))
    result = make().complete(ask("y" * 80))
    assert (result.prompt_tokens, result.completion_tokens, result.recomputed_prompt_tokens) == (20, 10, 20)


def test_logprobs_and_top_are_parsed(fault_server: FaultServer, make: Make) -> None:
    tokens = [{"Yes": -0.1, "No": -2.5, "yes": -4.0}, {".": -0.01, "!": -5.0}]
    fault_server.script(ok("Yes.", logprobs=tokens))
    result = make().complete(ask(logprobs=True, top_logprobs=2))
    assert fault_server.last_request["logprobs"] is True and fault_server.last_request["top_logprobs"] == 2
    assert result.logprobs is not None and [t.token for t in result.logprobs] == ["Yes", "."]
    assert result.logprobs[0].logprob == pytest.approx(-0.1)
    assert result.logprobs[0].top == pytest.approx({"Yes": -0.1, "No": -2.5})
    assert result.logprobs[1].top == pytest.approx({".": -0.01, "!": -5.0})


def test_six_stops_four_sent_all_enforced(fault_server: FaultServer, make: Make) -> None:
    stops = ["<a>", "<b>", "<c>", "<d>", "<e>", "<f>"]
    fault_server.script(ok("Step 1 done.<f> ignored <e> too"), ok("kept<b>dropped"), ok("no stop here"))
    backend = make()
    first = backend.complete(ask(stop=stops))
    assert fault_server.last_request["stop"] == stops[:4]
    assert first.text == "Step 1 done." and first.finish_reason == "stop"
    assert backend.complete(ask(stop=stops)).text == "kept"  # a server that echoes a sent stop
    assert backend.complete(ask(stop=stops)).text == "no stop here"


def test_stop_cut_wins_over_length_and_trims_logprobs(fault_server: FaultServer, make: Make) -> None:
    tokens = [{"ab": -0.1}, {"<s>": -0.2}, {"cd": -0.3}]
    fault_server.script(ok("ab<s>cd", logprobs=tokens, finish_reason="length"))
    result = make().complete(ask(stop=["<s>"], logprobs=True))
    assert result.text == "ab" and result.finish_reason == "stop"
    assert result.logprobs is not None and [t.token for t in result.logprobs] == ["ab"]


# -- continuing a partial assistant message --------------------------------------------------


def test_fold_mode_shapes_messages(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok(" 4."))
    result = make().complete(partial("What is 2+2?", "Step 1: 2+2 ="))
    assert result.text == " 4."
    assert fault_server.last_request["messages"] == [
        {"role": "user", "content": f"What is 2+2?\n\n{FOLD_HEADER}\nStep 1: 2+2 =\n\n{FOLD_INSTRUCTION}"}
    ]
    assert "\n" not in FOLD_INSTRUCTION and "continue_final_message" not in fault_server.last_request


def test_fold_mode_without_user_before_adds_one(fault_server: FaultServer, make: Make) -> None:
    messages = [Message(role="system", content="Be brief."), Message(role="assistant", content="Well,")]
    make().complete(CompletionRequest(messages=messages, continue_final=True))
    sent = fault_server.last_request["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1] == {"role": "user", "content": f"{FOLD_HEADER}\nWell,\n\n{FOLD_INSTRUCTION}"}


def test_fold_mode_empty_partial_is_a_new_turn(fault_server: FaultServer, make: Make) -> None:
    make().complete(partial("Hi", ""))
    assert fault_server.last_request["messages"] == [{"role": "user", "content": "Hi"}]


def test_fold_mode_strips_repeated_tail(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok("Step 2: add them, 2+2 = 4."), ok("The answer is 4."))
    backend = make()
    first = backend.complete(partial("Q", "Step 1: read.\nStep 2:"))
    assert first.text == " add them, 2+2 = 4."
    assert backend.complete(partial("Q", "Step 1: read.\nStep 2:")).text == "The answer is 4."


def test_continue_mode_sends_vllm_fields(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok(" 4."), ok("plain"))
    backend = make(prefix_mode="continue", extra_body={"top_k": 5, "add_generation_prompt": True})
    assert backend.complete(partial("What is 2+2?", "2+2 =")).text == " 4."
    sent = fault_server.last_request
    assert sent["messages"][-1] == {"role": "assistant", "content": "2+2 ="}
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert sent["top_k"] == 5
    backend.complete(ask())
    assert "continue_final_message" not in fault_server.last_request
    assert fault_server.last_request["top_k"] == 5


def test_continue_final_needs_an_assistant_message(make: Make) -> None:
    request = ask()
    request.continue_final = True
    error = failure(make(), request)
    assert (error.kind, error.retryable) == ("client_error", False)


@pytest.mark.parametrize(
    ("partial_text", "reply", "expected"),
    [
        ("Step 1: x = 3.\nStep 2:", "Step 2: y = 4", " y = 4"),
        ("The answ", "The answer is 42", "er is 42"),
        ("The answer is", "  The answer is 42", " 42"),
        ("The answer is", " 42", " 42"),
        ("2 + 2 =", "= 4", "= 4"),  # too short to count as a repetition
        ("I think", "ink is blue", "ink is blue"),  # the piece starts mid-word in the partial
        ("", "anything", "anything"),
    ],
)
def test_repeated_prefix_length(partial_text: str, reply: str, expected: str) -> None:
    assert reply[repeated_prefix_length(partial_text, reply) :] == expected


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "kind", "retryable"),
    [
        (status(500), "server_error", True),
        (status(502, body="bad gateway"), "server_error", True),
        (status(503), "server_error", True),
        (status(429), "rate_limit", True),
        (status(401), "auth", False),
        (status(403), "auth", False),
        (status(404), "not_found", False),
        (status(400), "client_error", False),
        (status(422), "client_error", False),
        (drop(), "connection", True),
        (drop(reset=True), "connection", True),
        (truncated(), "bad_response", True),
        (truncated(close_early=False), "bad_response", True),
        (invalid_json(), "bad_response", True),
        (no_choices(), "bad_response", True),
        (null_content(), "bad_response", True),
    ],
)
def test_fault_maps_to_typed_error(
    fault_server: FaultServer, make: Make, behaviour: object, kind: str, retryable: bool
) -> None:
    fault_server.script(behaviour)  # type: ignore[arg-type]
    backend = make()
    error = failure(backend)
    assert (error.kind, error.retryable) == (kind, retryable)
    assert len(error.message) < 300
    assert len(fault_server.requests) == 1  # no hidden retries
    fault_server.script(ok("fine"))
    assert backend.complete(ask()).text == "fine"  # the client is still usable


def test_status_message_has_code_and_body(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(status(503, body="overloaded " + "x" * 500))
    error = failure(make())
    assert "503" in error.message and "overloaded" in error.message
    assert error.retry_after_s is None


def test_retry_after_seconds(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(status(429, headers={"Retry-After": "7"}))
    error = failure(make())
    assert error.kind == "rate_limit" and error.retry_after_s == 7.0


def test_retry_after_http_date(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(status(429, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}))
    error = failure(make())
    assert error.retry_after_s is not None and 27 <= error.retry_after_s <= 31


def test_retry_after_ms_header(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(status(429, headers={"retry-after-ms": "1500", "Retry-After": "2"}))
    assert failure(make()).retry_after_s == 1.5


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 60) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_slow_server_times_out_fast(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(delay(5.0))
    backend = make(timeout_s=0.5)
    start = time.monotonic()
    error = failure(backend)
    assert time.monotonic() - start < 2.0
    assert (error.kind, error.retryable) == ("timeout", True)


def test_connection_refused_on_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2.0)
    try:
        start = time.monotonic()
        error = failure(backend)
        assert time.monotonic() - start < 2.0
        assert (error.kind, error.retryable) == ("connection", True)
    finally:
        backend.close()


# -- probe -------------------------------------------------------------------------------------


def test_probe_reads_top_logprobs(fault_server: FaultServer, make: Make) -> None:
    top = {"Yes": math.log(0.6), " yes": math.log(0.1), "No": math.log(0.2), "Maybe": math.log(0.05)}
    fault_server.script(ok("Yes", logprobs=[top]))
    result = make().probe(ProbeRequest(messages=[Message(role="user", content="Is 4 even?")], candidates=["Yes", "No"]))
    assert result.exact is False
    assert result.probs == pytest.approx({"Yes": 0.7, "No": 0.2})
    sent = fault_server.last_request
    assert sent["max_tokens"] == 1 and sent["logprobs"] is True and sent["top_logprobs"] == 20


def test_probe_without_logprobs_is_unsupported(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok("Yes"))  # this server ignores the logprobs request
    with pytest.raises(BackendError) as info:
        make().probe(ProbeRequest(messages=[Message(role="user", content="?")], candidates=["Yes"]))
    assert (info.value.kind, info.value.retryable) == ("unsupported", False)


# -- the fault server itself -------------------------------------------------------------------


def test_fault_server_stops_cleanly_with_a_sleeping_handler() -> None:
    before = threading.active_count()
    server = FaultServer(delay(30.0)).start()
    backend = OpenAIBackend("m", base_url=server.base_url, timeout_s=0.3)
    assert backend._client.models.list().data[0].id == "fault-model"
    with pytest.raises(BackendError):
        backend.complete(ask())
    start = time.monotonic()
    server.stop()
    backend.close()
    assert time.monotonic() - start < 1.0
    assert threading.active_count() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "model is overloaded", "type": "x"}}, "model is overloaded"),  # OpenAI
        ({"object": "error", "message": "max_tokens too large", "code": 400}, "max_tokens too large"),  # vLLM
        ({"error": "model 'q' not found"}, "model 'q' not found"),  # Ollama
        ("<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    ],
)
def test_error_message_from_common_error_bodies(
    fault_server: FaultServer, make: Make, body: object, expected: str
) -> None:
    fault_server.script(status(400, body=body))  # type: ignore[arg-type]
    assert failure(make()).message == f"HTTP 400: {expected}"


def test_malformed_usage_is_a_bad_response(fault_server: FaultServer, make: Make) -> None:
    fault_server.script(ok("hi", usage={"prompt_tokens": "many", "completion_tokens": 1}))
    error = failure(make())
    assert (error.kind, error.retryable) == ("bad_response", True)
