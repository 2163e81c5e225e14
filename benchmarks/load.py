"""Load benchmark of ``adaswitch serve``: throughput and latency under concurrent OpenAI clients.

Starts the real CLI server on scripted fake models on a free 127.0.0.1 port, then, for each
concurrency level, runs that many async ``openai`` clients until a fixed number of requests is
done, and reports requests/s, p50/p99 latency and the count of non-2xx answers (expected: 0).
With ``--embedded`` it also measures the latency the server adds over calling ``Solver.solve``
directly on the embedded models (medians over a few short GSM8K-like questions).

    python benchmarks/load.py                       # fake models, levels 1, 8, 64, 200 requests each
    python benchmarks/load.py --embedded            # plus the embedded-model comparison (minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import openai
from openai import AsyncOpenAI, OpenAI

QUESTION = "Ann has 3 apples and buys 4 more. How many apples does she have?"
EMBEDDED_QUESTIONS = [
    "Tom has 5 apples and eats 2. How many apples are left?",
    "A pen costs 3 dollars. How much do 4 pens cost?",
    "Sara read 12 pages on Monday and 15 pages on Tuesday. How many pages did she read in total?",
]
FAKE_LOCAL = {
    "rules": [
        {"match": "Thought 1:$", "text": " She adds the apples.\nAction 1: calculate[3 + 4]"},
        {"match": "Thought 2:$", "text": " She has 7.\nAction 2: finish[7]"},
    ],
    "probe_rules": [{"match": r"step 1\b", "probs": {"Yes": 0.2, "No": 0.8}}],
    "probe_default": {"Yes": 0.9, "No": 0.1},
}
FAKE_CLOUD = {
    "rules": [
        {"match": "Thought 1:$", "text": " Add 3 and 4.\nAction 1: calculate[4 + 3]"},
        {"match": "Thought 2:$", "text": " The total is 7.\nAction 2: finish[7]"},
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,64", help="Comma-separated client concurrency levels (default: 1,8,64).")
    parser.add_argument("--requests", type=int, default=200, help="Requests per level (default: 200).")
    parser.add_argument("--model", default="adaswitch", help="Model name to request (default: adaswitch).")
    parser.add_argument("--max-concurrency", type=int, default=8, help="Server worker threads (default: 8).")
    parser.add_argument("--max-queue", type=int, default=64, help="Server queue (default: 64, enough for level 64).")
    parser.add_argument("--timeout", type=float, default=60.0, help="Per-request client timeout in seconds.")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "load.json")
    parser.add_argument("--embedded", action="store_true", help="Also measure the added latency on the embedded models.")
    parser.add_argument("--cloud", default=os.environ.get("ADASWITCH_CLOUD"),
                        help="Cloud model for --embedded (default: $ADASWITCH_CLOUD or the embedded stand-in).")
    parser.add_argument("--cloud-base-url", default=os.environ.get("ADASWITCH_CLOUD_BASE_URL"))
    parser.add_argument("--embedded-max-steps", type=int, default=6, help="Step budget per question for --embedded.")
    parser.add_argument("--repeats", type=int, default=1, help="Repeats of each embedded question (default: 1).")
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.levels.split(",") if level.strip()]
    if args.requests < 1 or any(level < 1 for level in args.levels):
        parser.error("--requests and every level must be positive")
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def fake_server(args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    """``adaswitch serve`` on the fake scripts, in a subprocess; yields the base URL; stops with SIGINT."""
    (workdir / "local.json").write_text(json.dumps(FAKE_LOCAL))
    (workdir / "cloud.json").write_text(json.dumps(FAKE_CLOUD))
    port = free_port()
    command = [sys.executable, "-c", "from adaswitch.cli import main; main()", "serve",
               "--local", f"fake:{workdir / 'local.json'}", "--cloud", f"fake:{workdir / 'cloud.json'}",
               "--port", str(port), "--max-concurrency", str(args.max_concurrency),
               "--max-queue", str(args.max_queue), "--log-level", "warning"]
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/health", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the server did not start:\n" + (workdir / "server.log").read_text()) from None
                    time.sleep(0.1)
            yield url + "/v1"
        finally:
            process.send_signal(2)  # SIGINT: graceful shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


async def run_level(base_url: str, concurrency: int, total: int, model: str, timeout: float) -> dict:
    """``concurrency`` clients share ``total`` requests; latency of each, status of each."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    remaining = total

    async def worker(client: AsyncOpenAI) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            try:
                await client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
                latencies.append(time.perf_counter() - started)
                key = "200"
            except openai.APIStatusError as error:
                key = str(error.status_code)
            except openai.APIError as error:
                key = type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1

    # clients are built before the clock starts: building one (its TLS context) blocks for milliseconds
    clients = [AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=timeout) for _ in range(concurrency)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            await client.close()
    return {
        "concurrency": concurrency,
        "requests": total,
        "ok": statuses.get("200", 0),
        "non_2xx": total - statuses.get("200", 0),
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(total / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
    }


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def embedded_overhead(args: argparse.Namespace) -> dict:
    """Server latency minus direct ``Solver.solve`` latency on the embedded models, same questions."""
    from adaswitch.server import ServerSettings, ServerThread, create_app
    from adaswitch.solver import DEFAULT_CLOUD, EndpointSettings, Solver, SolverSettings

    settings = SolverSettings(
        local="qwen2.5-coder-0.5b", cloud=args.cloud or DEFAULT_CLOUD, max_steps=args.embedded_max_steps,
        cloud_endpoint=EndpointSettings(base_url=args.cloud_base_url,
                                        api_key=os.environ.get("ADASWITCH_CLOUD_API_KEY") or os.environ.get("OPENAI_API_KEY")),
    )
    rows = []
    with Solver(settings) as solver:
        server_settings = ServerSettings(port=0, max_concurrency=1, max_queue=0)
        with ServerThread(create_app(server_settings, solver), server_settings) as server:
            client = OpenAI(base_url=server.base_url, api_key="bench", max_retries=0, timeout=600)
            solver.solve("Warm-up: what is 1 + 1?", mode="adaswitch")  # loads both models, untimed
            for question in EMBEDDED_QUESTIONS:
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    direct = solver.solve(question, mode="adaswitch", threshold=settings.threshold)
                    direct_s = time.perf_counter() - started
                    started = time.perf_counter()
                    response = client.chat.completions.create(
                        model="adaswitch", messages=[{"role": "user", "content": question}])
                    server_s = time.perf_counter() - started
                    trace = response.model_extra["adaswitch"]["trace"]
                    rows.append({
                        "question": question,
                        "direct_s": round(direct_s, 3),
                        "server_s": round(server_s, 3),
                        "server_solve_s": round(trace["wall_time_s"], 3),
                        "same_steps": [s["text"] for s in trace["steps"]] == [s.text for s in direct.steps],
                        "answer": response.choices[0].message.content,
                    })
    return {
        "local": settings.local,
        "cloud": settings.cloud,
        "max_steps": settings.max_steps,
        "median_direct_s": round(statistics.median(r["direct_s"] for r in rows), 3),
        "median_server_s": round(statistics.median(r["server_s"] for r in rows), 3),
        "median_added_s": round(statistics.median(r["server_s"] - r["direct_s"] for r in rows), 3),
        "median_outside_solve_ms": round(statistics.median(r["server_s"] - r["server_solve_s"] for r in rows) * 1000, 2),
        "questions": rows,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict = {
        "benchmark": "load",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server": {"backends": "fake (scripted, no model time)", "model": args.model,
                   "max_concurrency": args.max_concurrency, "max_queue": args.max_queue},
        "levels": [],
    }
    with tempfile.TemporaryDirectory(prefix="adaswitch-load-") as workdir, fake_server(args, Path(workdir)) as base_url:
        asyncio.run(run_level(base_url, min(4, args.levels[0]), 8, args.model, args.timeout))  # warm-up
        for level in args.levels:
            row = asyncio.run(run_level(base_url, level, args.requests, args.model, args.timeout))
            result["levels"].append(row)
            print(f"concurrency {level:>3}: {row['requests_per_s']:>7.1f} req/s  p50 {row['p50_ms']:>8.2f} ms  "
                  f"p99 {row['p99_ms']:>8.2f} ms  non-2xx {row['non_2xx']}", flush=True)
    if args.embedded:
        result["embedded"] = embedded_overhead(args)
        e = result["embedded"]
        print(f"embedded ({e['local']} + {e['cloud']}): direct {e['median_direct_s']:.2f} s, server "
              f"{e['median_server_s']:.2f} s, added {e['median_added_s']:+.3f} s (median), "
              f"outside the solve {e['median_outside_solve_ms']:.1f} ms")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 1 if any(row["non_2xx"] for row in result["levels"]) else 0


if __name__ == "__main__":
    sys.exit(main())
