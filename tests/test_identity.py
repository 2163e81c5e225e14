"""Model identity for the response cache and run resume: the file's content, not its name."""

from __future__ import annotations

import json
import os

import pytest

from adaswitch.backends.base import CompletionRequest, Message
from adaswitch.backends.fake import FakeBackend, FakeReply, FakeScript
from adaswitch.benchmarks import get_benchmark
from adaswitch.response_cache import ResponseCache
from adaswitch.grading.records import RunConfig
from adaswitch.evaluation.runner import Method, RunMismatch, run_method
from adaswitch.identity import backend_identity, fallback_record_path, file_digest, sidecar_path
from adaswitch.model import Model
from adaswitch.solver import Solver, SolverSettings

REQUEST = CompletionRequest(messages=[Message(role="user", content="What is 2 + 2?")])


def gguf(path, content: bytes):
    """A stand-in model file: only its bytes matter here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + content)
    return path


def fake(model_file=None, text: str = "Answer: 4") -> FakeBackend:
    # the name a .gguf file gets is its stem: both files below are called "model"
    return FakeBackend(FakeScript(default=FakeReply(text=text)), name="model", model_file=model_file)


def test_two_files_with_the_same_stem_do_not_share_cache_entries(tmp_path):
    first, second = gguf(tmp_path / "a" / "model.gguf", b"one"), gguf(tmp_path / "b" / "model.gguf", b"two")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    Model(fake(first), "local", cache=cache).complete(REQUEST)
    other = fake(second)
    reply = Model(other, "local", cache=cache).complete(REQUEST)
    assert not reply.cached and len(other.requests) == 1
    cache.close()


def test_the_same_file_hits_the_cache_from_a_fresh_backend(tmp_path):
    path = gguf(tmp_path / "model.gguf", b"weights")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    Model(fake(path), "local", cache=cache).complete(REQUEST)
    again = fake(path)
    reply = Model(again, "local", cache=cache).complete(REQUEST)
    assert reply.cached and reply.completion.text == "Answer: 4" and again.requests == []
    cache.close()


def test_a_model_retrained_in_place_gets_fresh_answers(tmp_path):
    path = gguf(tmp_path / "trained" / "mine" / "model.gguf", b"before")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    assert Model(fake(path, "Answer: 5"), "local", cache=cache).complete(REQUEST).completion.text == "Answer: 5"
    gguf(path, b"after!")  # the same size, new content
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    reply = Model(fake(path, "Answer: 4"), "local", cache=cache).complete(REQUEST)
    assert not reply.cached and reply.completion.text == "Answer: 4"
    cache.close()


def test_the_digest_is_stored_beside_the_file_and_reused_while_size_and_mtime_match(tmp_path):
    import hashlib

    path = gguf(tmp_path / "m.gguf", b"abc")
    digest = file_digest(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    record = json.loads(sidecar_path(path).read_text())
    assert record["sha256"] == digest and record["size"] == path.stat().st_size
    # a copy with the same size and mtime and a planted record: the record is trusted, not the bytes
    twin = gguf(tmp_path / "twin.gguf", b"xyz")
    os.utime(twin, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    sidecar_path(twin).write_text(json.dumps({**record, "sha256": "f" * 64}))
    assert file_digest(twin) == "f" * 64
    # a changed mtime makes the record stale
    os.utime(twin, ns=(twin.stat().st_atime_ns, twin.stat().st_mtime_ns + 5_000_000))
    assert file_digest(twin) == hashlib.sha256(twin.read_bytes()).hexdigest()


def test_files_of_installed_packages_keep_their_record_in_the_model_cache(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))
    path = gguf(tmp_path / "venv" / "site-packages" / "models" / "m.gguf", b"embedded")
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not sidecar_path(path).exists()
    record = json.loads(fallback_record_path(path).read_text())
    assert record["sha256"] == file_digest(path) and fallback_record_path(path).parent == tmp_path / "cache" / "digests"


def test_a_folder_that_cannot_be_written_uses_the_model_cache(tmp_path, monkeypatch):
    from adaswitch import identity

    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path / "cache"))
    path = gguf(tmp_path / "ro" / "m.gguf", b"abc")
    real_write = identity.write_atomic

    def refuse_beside(target, text):
        if target == sidecar_path(path):
            raise PermissionError("read-only")
        real_write(target, text)

    monkeypatch.setattr(identity, "write_atomic", refuse_beside)
    assert len(file_digest(path)) == 64
    assert not sidecar_path(path).exists() and fallback_record_path(path).is_file()


def test_the_cache_key_covers_every_field_of_the_request():
    base = CompletionRequest(messages=[Message(role="user", content="q")])
    key = ResponseCache.key("m", "complete", base)
    for name, value in base.model_dump().items():
        changed = _other_value(name, value)
        assert ResponseCache.key("m", "complete", changed) != key, name
    assert ResponseCache.key("other", "complete", base) != key


def _other_value(name: str, value):
    data = CompletionRequest(messages=[Message(role="user", content="q")]).model_dump()
    if name == "messages":
        candidates = [[{"role": "user", "content": "another"}]]
    elif isinstance(value, bool):
        candidates = [not value]
    elif isinstance(value, (int, float)):
        candidates = [value + 1]
    elif isinstance(value, list):
        candidates = [["\n"]]
    else:  # None or a string: a text or a number, whichever the field takes
        candidates = ["root ::= \"x\"", 7]
    for candidate in candidates:
        try:
            return CompletionRequest.model_validate({**data, name: candidate})
        except ValueError:
            continue
    raise AssertionError(f"no other value for {name}")


def test_endpoints_without_a_file_are_named_with_their_settings():
    assert backend_identity(fake()).startswith("FakeBackend/name:model;settings:")
    other_script = FakeBackend(FakeScript(default=FakeReply(text="no")), name="model")
    assert backend_identity(other_script) != backend_identity(fake())
    pytest.importorskip("openai")
    from adaswitch.backends.openai_compat import OpenAIBackend

    a = OpenAIBackend("m", base_url="http://127.0.0.1:1/v1")
    b = OpenAIBackend("m", base_url="http://127.0.0.1:2/v1")
    assert backend_identity(a) != backend_identity(b)
    assert backend_identity(a) == backend_identity(OpenAIBackend("m", base_url="http://127.0.0.1:1/v1"))


def test_a_run_refuses_to_resume_with_another_file_under_the_same_name(tmp_path):
    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=1)
    first, second = gguf(tmp_path / "a" / "model.gguf", b"one"), gguf(tmp_path / "b" / "model.gguf", b"two")

    def solver(path):
        return Solver(SolverSettings(local="fake", cloud=None, mode="local"), local=fake(path))

    run_method(tmp_path / "run", bench, samples, Method("local"), solver(first))
    config = RunConfig.model_validate_json((tmp_path / "run" / "config.json").read_text())
    assert config.local_identity.startswith(f"FakeBackend/sha256:{file_digest(first)};settings:")
    with pytest.raises(RunMismatch, match="another model under the same name"):
        run_method(tmp_path / "run", bench, samples, Method("local"), solver(second))
    assert run_method(tmp_path / "run", bench, samples, Method("local"), solver(first)).done_before == 1


def test_runs_recorded_before_identities_still_resume(tmp_path):
    bench = get_benchmark("gsm8k")
    samples = bench.load(limit=1)
    s = Solver(SolverSettings(local="fake", cloud=None, mode="local"), local=fake())
    run_method(tmp_path / "run", bench, samples, Method("local"), s)
    path = tmp_path / "run" / "config.json"
    old = json.loads(path.read_text())
    old.pop("local_identity"), old.pop("cloud_identity")
    path.write_text(json.dumps(old))
    assert run_method(tmp_path / "run", bench, samples, Method("local"), s).done_before == 1
