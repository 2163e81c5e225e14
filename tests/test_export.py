"""Export to GGUF: llama.cpp's conversion scripts (found, prepared from an sdist, fetched), error
reporting, and a real export of SmolLM2-135M that the llama.cpp backend loads and runs."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import textwrap

import pytest

from adaswitch.backends.base import CompletionRequest, Message, ProbeRequest
from adaswitch.embedded import EmbeddedModelError, resolve_model
from adaswitch.learning import llama_cpp_tools
from adaswitch.learning.export import ExportError, export_gguf
from adaswitch.learning.llama_cpp_tools import (
    MARKER,
    SOURCE_ENV,
    ConversionTools,
    ConversionToolsError,
    conversion_tools,
    find_conversion_tools,
    prepare_conversion_tools,
)

VENDOR = "llama_cpp_python-9.9.9/vendor/llama.cpp/"


def _fake_sdist(path, extra: dict[str, bytes] | None = None):
    """A tar.gz laid out like the llama-cpp-python sdist, with a few files we must not unpack."""
    files = {
        VENDOR + "convert_hf_to_gguf.py": b"print('converter')\n",
        VENDOR + "convert_lora_to_gguf.py": b"",
        VENDOR + "LICENSE": b"MIT",
        VENDOR + "conversion/__init__.py": b"",
        VENDOR + "conversion/llama.py": b"",
        VENDOR + "gguf-py/gguf/__init__.py": b"",
        VENDOR + "gguf-py/pyproject.toml": b"",
        VENDOR + "gguf-py/tests/test_x.py": b"",
        VENDOR + "models/templates/x.jinja": b"",
        VENDOR + "ggml/src/ggml.c": b"int x;",
        VENDOR + "conversion/../../escape.py": b"",
        "llama_cpp_python-9.9.9/llama_cpp/llama.py": b"",
    }
    files.update(extra or {})
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_prepare_unpacks_only_the_converter_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.delenv(SOURCE_ENV, raising=False)
    sdist = _fake_sdist(tmp_path / "llama_cpp_python-9.9.9.tar.gz")
    cache = tmp_path / "cache"
    tools = prepare_conversion_tools(cache, version="9.9.9", sdist=sdist)
    assert tools.root == cache / "tools" / "llama.cpp-9.9.9"
    files = sorted(p.relative_to(tools.root).as_posix() for p in tools.root.rglob("*") if p.is_file())
    assert files == sorted([MARKER, "LICENSE", "conversion/__init__.py", "conversion/llama.py", "convert_hf_to_gguf.py",
                     "convert_lora_to_gguf.py", "gguf-py/gguf/__init__.py", "gguf-py/pyproject.toml",
                     "models/templates/x.jinja"])
    marker = json.loads((tools.root / MARKER).read_text())
    assert marker["version"] == "9.9.9" and marker["files"] == 8
    assert not (tmp_path / "escape.py").exists() and not (cache / "tools" / "escape.py").exists()
    assert sorted(p.name for p in (cache / "tools").iterdir()) == ["llama.cpp-9.9.9"]  # no staging left

    def no_extract(*args):
        raise AssertionError("prepared again")

    monkeypatch.setattr(llama_cpp_tools, "_extract", no_extract)
    assert prepare_conversion_tools(cache, version="9.9.9", sdist=sdist) == tools


def test_an_sdist_without_the_converter_is_refused(tmp_path):
    sdist = tmp_path / "empty.tar.gz"
    with tarfile.open(sdist, "w:gz"):
        pass
    with pytest.raises(ConversionToolsError, match="convert_hf_to_gguf.py"):
        prepare_conversion_tools(tmp_path / "cache", version="9.9.9", sdist=sdist)
    assert list((tmp_path / "cache" / "tools").iterdir()) == []


def test_offline_fetch_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv(SOURCE_ENV, raising=False)

    def offline(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "llama-cpp-python==9.9.9" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(subprocess, "run", offline)
    monkeypatch.setattr(llama_cpp_tools, "llama_cpp_version", lambda: "9.9.9")
    with pytest.raises(ConversionToolsError, match=r"(?s)could not fetch.*ADASWITCH_LLAMA_CPP_SOURCE.*unreachable"):
        conversion_tools(tmp_path)
    with pytest.raises(ConversionToolsError, match="prepare-tools"):
        conversion_tools(tmp_path, fetch=False)


def test_source_directory_from_the_environment(tmp_path, monkeypatch):
    root = tmp_path / "llama.cpp"
    (root / "gguf-py" / "gguf").mkdir(parents=True)
    monkeypatch.setenv(SOURCE_ENV, str(root))
    with pytest.raises(ConversionToolsError, match="convert_hf_to_gguf.py"):
        find_conversion_tools(tmp_path / "cache")
    (root / "convert_hf_to_gguf.py").write_text("")
    (root / "gguf-py" / "gguf" / "__init__.py").write_text("")
    assert find_conversion_tools(tmp_path / "cache") == ConversionTools(root)


def _fake_model_dir(path):
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


def test_export_errors_leave_nothing_behind(tmp_path):
    tools = ConversionTools(tmp_path / "tools")
    tools.root.mkdir()
    tools.convert_hf.write_text(textwrap.dedent("""\
        import sys
        print("loading the model", file=sys.stderr)
        sys.exit("NotImplementedError: BPE pre-tokenizer was not recognized")
    """))
    model = _fake_model_dir(tmp_path / "model")
    out = tmp_path / "out" / "m.gguf"
    with pytest.raises(ExportError, match=r"(?s)convert_hf_to_gguf.py failed.*pre-tokenizer was not recognized"):
        export_gguf(model, out, "q4_k_m", tools=tools)
    assert list(out.parent.iterdir()) == []
    with pytest.raises(ExportError, match="unknown export type"):
        export_gguf(model, out, "q3_xl", tools=tools)
    with pytest.raises(ExportError, match="no config.json"):
        export_gguf(tmp_path / "tools", out, "f16", tools=tools)


@pytest.mark.realmodel
def test_exported_model_runs_in_llama_cpp(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("llama_cpp")
    from adaswitch.backends.llamacpp import LlamaCppBackend
    from adaswitch.learning.finetune import load_base

    try:
        original = resolve_model("smollm2-135m")
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    loaded = load_base("smollm2-135m")
    loaded.model.save_pretrained(tmp_path / "hf")
    loaded.tokenizer.save_pretrained(tmp_path / "hf")
    del loaded

    f16 = export_gguf(tmp_path / "hf", tmp_path / "out" / "smol-f16.gguf", "f16")
    q4 = export_gguf(tmp_path / "hf", tmp_path / "out" / "smol-q4_1.gguf", "q4_1")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["smol-f16.gguf", "smol-q4_1.gguf"]
    assert q4.stat().st_size < 0.6 * f16.stat().st_size

    conversations = [
        [Message(role="user", content="What is the capital of France?")],
        [Message(role="user", content="Write a haiku about the sea.")],
    ]
    results = {}
    for path in (original, f16, q4):
        backend = LlamaCppBackend(path, n_ctx=512, seed=0)
        try:
            results[path] = [
                (backend.render_prompt(messages),
                 backend.complete(CompletionRequest(messages=messages, max_tokens=12)).text,
                 backend.probe(ProbeRequest(messages=messages, candidates=["The", "In", "L"])).probs)
                for messages in conversations
            ]
        finally:
            backend.close()
    for k in range(len(conversations)):
        assert len({results[path][k][0] for path in results}) == 1  # the chat template travelled along
        assert results[f16][k][1].strip()
        for word, p in results[original][k][2].items():
            # the original's Q4_1 weights are exact in f16 and quantise back to themselves (the same
            # outputs); f16 is only close, since the Q4_1 kernels also round the activations to 8 bits,
            # by how much depends on the CPU's kernels (up to 0.042 with AVX2 alone, under 0.03 with
            # AVX-512)
            assert results[f16][k][2][word] == pytest.approx(p, abs=0.06)
            assert results[q4][k][2][word] == pytest.approx(p, abs=1e-3)
        assert results[q4][k][1] == results[original][k][1]
