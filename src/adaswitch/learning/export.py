"""Export a fine-tuned Hugging Face model directory to one GGUF file for the llama.cpp backend.

llama.cpp's ``convert_hf_to_gguf.py`` (see :mod:`adaswitch.learning.llama_cpp_tools`) runs in a
subprocess of the same interpreter and writes f16, bf16, f32 or q8_0 directly; the k-quants and the
other llama.cpp types are then made in process by ``llama_model_quantize`` from an f16 file.
The output appears atomically: on any failure nothing is left at ``out_path``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adaswitch.learning.llama_cpp_tools import ConversionTools, conversion_tools

log = logging.getLogger(__name__)

CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
"""Types the converter writes itself."""

QUANT_FTYPES = {
    "f32": 0, "f16": 1, "bf16": 32, "q8_0": 7, "q4_0": 2, "q4_1": 3, "q5_0": 8, "q5_1": 9,
    "q2_k": 10, "q3_k_m": 12, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18,
}
"""Export types and their ``llama_ftype`` values (``LLAMA_FTYPE_MOSTLY_*`` in llama.h)."""


class ExportError(RuntimeError):
    """The model directory could not be turned into a GGUF file."""


def export_gguf(
    model_dir: Path | str,
    out_path: Path | str,
    quant: str = "q4_k_m",
    *,
    tools: ConversionTools | None = None,
    threads: int | None = None,
) -> Path:
    """Convert ``model_dir`` (``config.json``, safetensors weights, tokenizer) to ``out_path``.

    ``model_dir`` may also be the output directory of :func:`adaswitch.learning.finetune.finetune`,
    whose merged model is in ``model/``. Returns ``out_path``.
    """
    quant = quant.lower()
    if quant not in QUANT_FTYPES:
        raise ExportError(f"unknown export type {quant!r}; choose one of {', '.join(QUANT_FTYPES)}")
    source = _model_dir(Path(model_dir).resolve())
    out = Path(out_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tools = tools or conversion_tools()
    direct = quant in CONVERTER_TYPES
    start = time.perf_counter()
    converted = _temp_path(out, ".f16" if not direct else "")
    final = converted if direct else _temp_path(out, "")
    try:
        _convert(tools, source, converted, quant if direct else "f16")
        if not direct:
            quantize_gguf(converted, final, quant, threads=threads)
        os.replace(final, out)
    finally:
        converted.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
    log.info("exported %s to %s (%s) in %.1f s", source, out, quant, time.perf_counter() - start)
    return out


ADAPTER_TYPES = ("f32", "f16", "bf16", "q8_0")
"""Types llama.cpp's LoRA converter writes."""


def export_lora_gguf(
    adapter_dir: Path | str,
    out_path: Path | str,
    base_config_dir: Path | str,
    outtype: str = "f16",
    *,
    tools: ConversionTools | None = None,
) -> Path:
    """Convert a PEFT LoRA adapter (``adapter_config.json`` and safetensors) to a GGUF adapter that
    llama.cpp applies to the base model at load time (``llama_cpp.Llama(lora_path=...)``,
    ``llama-server --lora``). ``base_config_dir`` holds the base model's ``config.json`` (the
    fine-tuning output's ``model/`` does); no base weights are read. Atomic like :func:`export_gguf`."""
    outtype = outtype.lower()
    if outtype not in ADAPTER_TYPES:
        raise ExportError(f"unknown adapter type {outtype!r}; choose one of {', '.join(ADAPTER_TYPES)}")
    adapter = Path(adapter_dir).resolve()
    if not (adapter / "adapter_config.json").is_file():
        raise ExportError(f"{adapter} is not a PEFT adapter directory (no adapter_config.json)")
    base = _model_dir(Path(base_config_dir).resolve())
    out = Path(out_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tools = tools or conversion_tools()
    if not tools.convert_lora.is_file():
        raise ExportError(f"{tools.root} lacks convert_lora_to_gguf.py; run 'adaswitch models prepare-tools --force'")
    part = _temp_path(out, ".lora")
    try:
        _run_converter([sys.executable, str(tools.convert_lora), str(adapter), "--base", str(base),
                        "--outfile", str(part), "--outtype", outtype], tools, adapter)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return out


def quantize_gguf(source: Path | str, out_path: Path | str, quant: str, *, threads: int | None = None) -> Path:
    """Quantise a GGUF file (f32, f16 or bf16 weights) to ``quant`` with llama.cpp, in process."""
    import llama_cpp

    quant = quant.lower()
    if quant not in QUANT_FTYPES:
        raise ExportError(f"unknown quantisation type {quant!r}; choose one of {', '.join(QUANT_FTYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[quant]
    params.nthread = threads or 0  # 0: all hardware threads
    # llama-cpp-python prints llama.cpp's log lines at or above this logger's level: one per tensor
    # while quantising and one per tensor that falls back to another type: errors only
    llama_log = logging.getLogger("llama-cpp-python")
    level = llama_log.level
    llama_log.setLevel(max(level, logging.ERROR))
    try:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(out_path).encode(), ctypes.byref(params))
    finally:
        llama_log.setLevel(level)
    if rc != 0:
        raise ExportError(f"llama.cpp could not quantise {source} to {quant} (code {rc})")
    return Path(out_path)


def _model_dir(path: Path) -> Path:
    if (path / "config.json").is_file():
        return path
    if (path / "model" / "config.json").is_file():
        return path / "model"
    raise ExportError(f"{path} is not a Hugging Face model directory (no config.json)")


def _temp_path(out: Path, tag: str) -> Path:
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}{tag}.", suffix=".part")
    os.close(fd)
    return Path(name)


def _convert(tools: ConversionTools, source: Path, out: Path, outtype: str) -> None:
    cmd = [sys.executable, str(tools.convert_hf), str(source), "--outfile", str(out), "--outtype", outtype]
    _run_converter(cmd, tools, source)


def _run_converter(cmd: list[str], tools: ConversionTools, source: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("NO_LOCAL_GGUF", None)  # the converter must use the gguf-py it was released with
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=tools.root)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise ExportError(f"{Path(cmd[1]).name} failed on {source} (exit {done.returncode}):\n{tail}")
