"""Getting the benchmark data: the shipped manifest, the search path, ``adaswitch data status`` and
``adaswitch data fetch`` against a real HTTP server on 127.0.0.1 serving GitHub-raw-like paths."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaswitch.benchmarks.fetch import fetch_all
from adaswitch.benchmarks.locations import DataNotFoundError, data_file, data_search_path
from adaswitch.benchmarks.sources import DataFile, Upstream, load_manifest, select
from adaswitch.benchmarks.status import file_statuses
from adaswitch.cli import _register, cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


@dataclasses.dataclass
class RawServer:
    root: Path
    base_url: str
    requests: list[str]

    def put(self, repo: str, path: str, content: bytes) -> DataFile:
        """Serve ``content`` at ``/<repo>/<COMMIT>/<path>``; the manifest entry that matches it."""
        target = self.root / repo / COMMIT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        local = f"{repo.split('/')[1]}/{Path(path).name}"
        return DataFile(path=local, benchmark=repo.split("/")[1], sha256=hashlib.sha256(content).hexdigest(),
                        size=len(content), licence="MIT", upstream=Upstream(repo, COMMIT, path))


@pytest.fixture
def raw_server(tmp_path: Path) -> Iterator[RawServer]:
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []
    handler = functools.partial(type("Handler", (_Handler,), {"requests": requests}), directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RawServer(root, f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def derived_entry() -> DataFile:
    return DataFile(path="wiki/dev.json", benchmark="wiki", sha256="0" * 64, size=10, licence="Apache-2.0",
                    upstream=Upstream("someone/project", COMMIT, "sampled/ds.json"),
                    derived="500 questions converted to the official layout")


def manifest_json(files: list[DataFile], path: Path) -> Path:
    rows = [dataclasses.asdict(f) for f in files]
    path.write_text(json.dumps({"files": rows}))
    return path


def run(args: list[str], env: dict[str, str] | None = None):
    _register()
    return CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)


def test_fetch_verifies_moves_into_place_and_status_finds_the_files(raw_server, tmp_path):
    files = [raw_server.put("openai/grade-school-math", "grade_school_math/data/test.jsonl", b'{"q": 1}\n'),
             raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]")]
    dest = tmp_path / "data"
    results = fetch_all(files, dest, raw_server.base_url)
    assert [r.outcome for r in results] == ["fetched", "fetched"], [r.message for r in results]
    assert files_under(dest) == sorted([dest / "grade-school-math" / "test.jsonl", dest / "SVAMP" / "SVAMP.json"])
    assert (dest / "SVAMP" / "SVAMP.json").read_bytes() == b"[1, 2, 3]"
    assert raw_server.requests == [f"/openai/grade-school-math/{COMMIT}/grade_school_math/data/test.jsonl",
                                   f"/arkilpatel/SVAMP/{COMMIT}/SVAMP.json"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    statuses = file_statuses(files, [elsewhere, dest], verify=True)
    assert [(s.directory, s.state) for s in statuses] == [(dest, "verified"), (dest, "verified")]


def test_a_rerun_skips_verified_files_without_a_request(raw_server, tmp_path):
    files = [raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]")]
    fetch_all(files, tmp_path, raw_server.base_url)
    again = fetch_all(files, tmp_path, raw_server.base_url)
    assert [r.outcome for r in again] == ["present"] and len(raw_server.requests) == 1


@pytest.mark.parametrize("served", [b"[1, 2, 4]", b"[1, 2, 3] and more"], ids=["same size", "too long"])
def test_a_download_that_does_not_match_its_sha256_is_refused_and_leaves_nothing(raw_server, tmp_path, served):
    entry = raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]")
    raw_server.put("arkilpatel/SVAMP", "SVAMP.json", served)  # the upstream changed under the manifest
    dest = tmp_path / "data"
    [result] = fetch_all([entry], dest, raw_server.base_url)
    assert result.outcome == "failed" and "\n" not in result.message
    assert result.message.startswith("SVAMP/SVAMP.json: download from http://127.0.0.1:")
    assert "nothing was written" in result.message
    assert files_under(dest) == []


def test_a_missing_upstream_file_is_a_clear_error(raw_server, tmp_path):
    entry = dataclasses.replace(raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[]"),
                                upstream=Upstream("arkilpatel/SVAMP", COMMIT, "gone.json"))
    [result] = fetch_all([entry], tmp_path / "data", raw_server.base_url)
    assert result.outcome == "failed"
    assert re.fullmatch(rf"SVAMP/SVAMP.json: HTTP 404 .* from {raw_server.base_url}/arkilpatel/SVAMP/{COMMIT}/gone.json",
                        result.message)
    assert files_under(tmp_path / "data") == []


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    entry = dataclasses.replace(derived_entry(), derived=None)
    [result] = fetch_all([entry], tmp_path / "data", "http://127.0.0.1:9", timeout=5)
    assert result.outcome == "failed" and result.message.startswith("wiki/dev.json: cannot download http://127.0.0.1:9/")


def test_a_different_file_in_place_is_not_overwritten(raw_server, tmp_path):
    entry = raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]")
    (tmp_path / "SVAMP").mkdir()
    (tmp_path / "SVAMP" / "SVAMP.json").write_bytes(b"mine")
    [result] = fetch_all([entry], tmp_path, raw_server.base_url)
    assert result.outcome == "failed" and "remove it to fetch it again" in result.message
    assert (tmp_path / "SVAMP" / "SVAMP.json").read_bytes() == b"mine" and raw_server.requests == []


def test_derived_files_are_reported_with_their_upstream_not_downloaded(raw_server, tmp_path):
    [result] = fetch_all([derived_entry()], tmp_path / "data", raw_server.base_url)
    assert result.outcome == "derived" and raw_server.requests == []
    assert "derived by the project's maintainers" in result.message
    assert "someone/project" in result.message and "github.com/someone/project/tree/" + COMMIT in result.message
    assert "converted to the official layout" in result.message
    assert files_under(tmp_path / "data") == []


def test_cli_fetch_then_status(raw_server, tmp_path):
    files = [raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]"), derived_entry()]
    manifest = manifest_json(files, tmp_path / "manifest.json")
    dest = tmp_path / "data"
    fetched = run(["data", "fetch", "--manifest", str(manifest), "--dest", str(dest), "--base-url", raw_server.base_url])
    assert fetched.exit_code == 0, fetched.output
    assert "SVAMP/SVAMP.json: fetched and verified" in fetched.output
    assert "wiki/dev.json: not downloadable" in fetched.output
    assert f"{dest}: 1 fetched, 0 already there, 1 derived (not downloadable), 0 failed" in fetched.output
    status = run(["data", "status", "--verify", "--manifest", str(manifest)], env={"ADASWITCH_DATA_DIR": str(dest)})
    assert status.exit_code == 0, status.output
    rows = {line.split()[0]: line.split() for line in status.output.splitlines() if "/" in line.split()[0]}
    assert rows["SVAMP/SVAMP.json"][1:] == ["upstream", "verified", str(dest.resolve())]
    assert rows["wiki/dev.json"][1:] == ["derived", "missing", "-"]
    assert "1 of 2 files missing" in status.output


def test_cli_fetch_failure_is_one_line_and_exit_1(raw_server, tmp_path):
    entry = raw_server.put("arkilpatel/SVAMP", "SVAMP.json", b"[1, 2, 3]")
    manifest = manifest_json([dataclasses.replace(entry, sha256="f" * 64)], tmp_path / "manifest.json")
    result = run(["data", "fetch", "--manifest", str(manifest), "--dest", str(tmp_path / "data"),
                  "--base-url", raw_server.base_url])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "does not match the manifest" in result.output and "1 file(s) could not be fetched" in result.output
    assert files_under(tmp_path / "data") == []


def test_cli_status_exits_0_when_nothing_is_found(tmp_path):
    result = run(["data", "status"], env={"ADASWITCH_DATA_DIR": str(tmp_path / "nowhere")})
    assert result.exit_code == 0, result.output
    assert f"search 1: {tmp_path / 'nowhere'}  (does not exist)" in result.output
    assert "gsm8k/test.jsonl" in result.output and "11 of 11 files missing" in result.output


def test_only_selects_by_benchmark_alias_or_path_and_rejects_unknown_names():
    files = load_manifest()
    assert [f.path for f in select(files, ["2WikiMultiHopQA", "gsm8k/test.jsonl"])] == \
        ["gsm8k/test.jsonl", "2wikimultihopqa/dev_sample500.json"]
    assert {f.path for f in select(files, ["math"])} == {"math/test500.jsonl", "math/train.jsonl"}
    with pytest.raises(ValueError, match="unknown data name 'mmlu'"):
        select(files, ["mmlu"])
    result = run(["data", "fetch", "--only", "mmlu"])
    assert result.exit_code == 2 and "unknown data name 'mmlu'" in result.output


def test_the_cache_is_searched_last_and_the_environment_variable_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("ADASWITCH_DATA_DIR", raising=False)
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))
    assert data_search_path()[-1] == tmp_path / "cache" / "data"
    assert [p.name for p in data_search_path()[:-1]] == ["data"] * 3  # the shared/data places first
    fetched = tmp_path / "cache" / "data" / "only-fetched" / "x.json"
    fetched.parent.mkdir(parents=True)
    fetched.write_text("{}")
    assert data_file("only-fetched", "x.json") == fetched.resolve()
    monkeypatch.setenv("ADASWITCH_DATA_DIR", str(tmp_path / "mine"))
    assert data_search_path() == [tmp_path / "mine"]
    with pytest.raises(DataNotFoundError, match="ADASWITCH_DATA_DIR"):
        data_file("only-fetched", "x.json")


def test_the_shipped_manifest_is_complete_and_consistent():
    files = load_manifest()
    assert len({f.path for f in files}) == len(files) == 11
    for f in files:
        assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0 and f.licence
        assert re.fullmatch(r"[0-9a-f]{40}", f.upstream.commit), f.path
        assert f.url().startswith(f"https://raw.githubusercontent.com/{f.upstream.repo}/{f.upstream.commit}/")
    assert {f.path for f in files if not f.fetchable} == {
        "math/train.jsonl", "hotpotqa/dev_distractor_500.jsonl", "2wikimultihopqa/dev_sample500.json"}


@pytest.mark.skipif(not (SHARED_DATA / "SHA256SUMS").is_file(), reason="../shared/data is not present")
def test_the_shipped_manifest_lists_every_file_of_the_shared_data():
    sums = dict(reversed(line.split(None, 1)) for line in (SHARED_DATA / "SHA256SUMS").read_text().splitlines()
                if line.strip())
    manifest = {f.path: f for f in load_manifest()}
    assert set(manifest) == set(sums)
    for path, digest in sums.items():
        assert manifest[path].sha256 == digest, path
        assert manifest[path].size == (SHARED_DATA / path).stat().st_size, path
