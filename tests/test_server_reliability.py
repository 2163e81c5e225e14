"""The server under a misbehaving real cloud endpoint, under load, and with real models queueing."""

from __future__ import annotations

import asyncio
import time

import pytest
from faultserver import delay, drop, invalid_json, status
from openai import AsyncOpenAI, OpenAI
from test_server import USER, local_fake, running

from adaswitch.backends.openai_compat import OpenAIBackend
from adaswitch.solver import EndpointSettings, Solver, SolverSettings


def solver_with_http_cloud(base_url: str, on_cloud_error: str = "fallback") -> Solver:
    settings = SolverSettings(local="fake", cloud="openai:stand-in", on_cloud_error=on_cloud_error,
                              cloud_endpoint=EndpointSettings(max_attempts=2))  # type: ignore[arg-type]
    cloud = OpenAIBackend("stand-in", base_url=base_url, timeout_s=0.5)
    return Solver(settings, local=local_fake(), cloud=cloud)


@pytest.mark.parametrize("fault", [lambda: delay(3.0), lambda: status(500), drop, invalid_json,
                                   lambda: status(429, headers={"Retry-After": "0"})],
                         ids=["timeout", "500", "drop", "invalid_json", "429"])
def test_every_request_completes_when_the_cloud_misbehaves(fault_server, fault):
    fault_server.script(fault(), fault())
    with running(solver_with_http_cloud(fault_server.base_url)) as srv:
        started = time.monotonic()
        reply = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=30).chat.completions.create(
            model="adaswitch", messages=USER)
        assert time.monotonic() - started < 10
    assert reply.choices[0].message.content == "7"
    faults = reply.model_extra["adaswitch"]["trace"]["steps"][0]["faults"]
    assert [f["outcome"] for f in faults] == ["retried", "fell_back_to_local"]


def test_a_down_cloud_with_fallback_off_is_a_clear_503(fault_server):
    fault_server.script(status(502), status(502))
    with running(solver_with_http_cloud(fault_server.base_url, on_cloud_error="fail")) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=30)
        with pytest.raises(Exception) as error:
            client.chat.completions.create(model="adaswitch", messages=USER)
    assert getattr(error.value, "status_code", None) == 503


async def statuses(base_url: str, model: str, n: int, timeout: float = 60) -> list[int]:
    """HTTP status codes of ``n`` concurrent chat requests from one async official client."""
    client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=timeout)

    async def one() -> int:
        raw = await client.chat.completions.with_raw_response.create(model=model, messages=USER)
        return raw.http_response.status_code

    codes = await asyncio.gather(*(one() for _ in range(n)))
    await client.close()
    return list(codes)


def test_many_concurrent_async_clients_get_no_server_error():
    with running(max_concurrency=8, max_queue=256) as srv:
        codes = asyncio.run(statuses(srv.base_url, "adaswitch", 128))
    assert codes == [200] * 128


@pytest.mark.realmodel
def test_real_in_process_models_queue_requests_instead_of_failing():
    pytest.importorskip("llama_cpp")
    settings = SolverSettings(local="smollm2-135m", cloud=None, mode="local", max_steps=2, max_step_tokens=24)
    settings.local_endpoint.n_ctx = 2048
    with running(Solver(settings), max_concurrency=1, max_queue=4) as srv:
        assert asyncio.run(statuses(srv.base_url, "adaswitch-local", 3, timeout=300)) == [200, 200, 200]
