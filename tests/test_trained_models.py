"""The registry of trained models: registration, names, listing, and the resolve_model fallback."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

from adaswitch.cli import _register, cli
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.trained_models import (
    TrainedModelError,
    get_trained_model,
    list_trained_models,
    register_trained_model,
    remove_trained_model,
    trained_root,
    verify_trained_model,
)

FAKE = b"GGUF" + b"\x03\x00\x00\x00" + b"not really a model" * 10


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "src" / "out.gguf"
    path.parent.mkdir()
    path.write_bytes(FAKE)
    return path


def test_register_copies_with_a_manifest_and_resolves(tmp_path, gguf):
    cache = tmp_path / "cache"
    path = register_trained_model("my-practised", gguf, {"base": "qwen2.5-coder-0.5b", "stage": "practice",
                                                         "settings": {"lora_r": 16}}, cache_dir=cache)
    assert path == cache / "trained" / "my-practised" / "model.gguf"
    assert path.read_bytes() == FAKE and gguf.exists()
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(FAKE).hexdigest() and manifest["size"] == len(FAKE)
    assert manifest["base"] == "qwen2.5-coder-0.5b" and manifest["stage"] == "practice"
    assert manifest["settings"] == {"lora_r": 16} and manifest["created"]
    assert resolve_model("my-practised", cache_dir=cache) == path
    assert [m.name for m in list_trained_models(cache)] == ["my-practised"]
    assert verify_trained_model("my-practised", cache).manifest["name"] == "my-practised"
    assert [p.name for p in trained_root(cache).iterdir()] == ["my-practised"]  # no staging left


def test_move_replace_and_remove(tmp_path, gguf):
    cache = tmp_path / "cache"
    register_trained_model("m1", gguf, {"stage": "practice"}, cache_dir=cache)
    with pytest.raises(TrainedModelError, match="already exists"):
        register_trained_model("m1", gguf, {}, cache_dir=cache)
    newer = tmp_path / "newer.gguf"
    newer.write_bytes(FAKE + b"more")
    path = register_trained_model("m1", newer, {"stage": "reflect"}, move=True, replace=True, cache_dir=cache)
    assert not newer.exists() and path.read_bytes() == FAKE + b"more"
    assert get_trained_model("m1", cache).manifest["stage"] == "reflect"
    remove_trained_model("m1", cache)
    assert list_trained_models(cache) == []
    with pytest.raises(TrainedModelError, match="no trained model"):
        remove_trained_model("m1", cache)


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x.gguf", "has space", "llama:x", "-x", "smollm2-135m", "x" * 65])
def test_bad_names_are_refused(tmp_path, gguf, name):
    with pytest.raises(TrainedModelError, match="bad model name"):
        register_trained_model(name, gguf, {}, cache_dir=tmp_path)
    assert not (tmp_path / "trained").exists() or list((tmp_path / "trained").iterdir()) == []


def test_bad_files_and_manifests_are_refused(tmp_path, gguf):
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(TrainedModelError, match="not a GGUF"):
        register_trained_model("m", not_gguf, {}, cache_dir=tmp_path)
    with pytest.raises(TrainedModelError, match="cannot read"):
        register_trained_model("m", tmp_path / "missing.gguf", {}, cache_dir=tmp_path)
    with pytest.raises(TrainedModelError, match="JSON"):
        register_trained_model("m", gguf, {"when": object()}, cache_dir=tmp_path)
    assert list_trained_models(tmp_path) == [] and list((tmp_path / "trained").iterdir()) == []


def test_a_damaged_entry_is_reported_and_not_listed(tmp_path, gguf):
    path = register_trained_model("m", gguf, {}, cache_dir=tmp_path)
    path.write_bytes(FAKE[:10])
    with pytest.raises(TrainedModelError, match="registered size"):
        resolve_model("m", cache_dir=tmp_path)
    assert list_trained_models(tmp_path) == []


def test_unknown_names_list_embedded_and_trained_models(tmp_path, gguf):
    register_trained_model("mine", gguf, {}, cache_dir=tmp_path)
    with pytest.raises(EmbeddedModelError, match=r"known: .*smollm2-135m.*trained here: mine"):
        resolve_model("nope", cache_dir=tmp_path)
    with pytest.raises(EmbeddedModelError, match="unknown embedded model"):
        resolve_model("a/b", cache_dir=tmp_path)


def test_cli_lists_and_removes_trained_models(tmp_path, gguf, monkeypatch):
    monkeypatch.setenv("ADASWITCH_CACHE_DIR", str(tmp_path))
    register_trained_model("my-practised", gguf, {"base": "qwen2.5-coder-0.5b", "stage": "practice"})
    _register()
    listed = CliRunner().invoke(cli, ["models", "list"])
    assert listed.exit_code == 0
    line = next(line for line in listed.output.splitlines() if line.startswith("my-practised"))
    assert "trained from qwen2.5-coder-0.5b" in line and "practice" in line
    assert "smollm2-135m" in listed.output
    removed = CliRunner().invoke(cli, ["models", "remove", "my-practised"])
    assert removed.exit_code == 0 and list_trained_models() == []
    again = CliRunner().invoke(cli, ["models", "remove", "my-practised"])
    assert again.exit_code != 0 and "no trained model" in again.output
