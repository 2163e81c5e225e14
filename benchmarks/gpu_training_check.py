"""Check the GPU training path on a tiny randomly initialised model (issue 16).

Every training figure of this project comes from a 2-core CPU; :func:`adaswitch.learning.finetune.finetune`
leaves the device to the Trainer, so on a GPU it should train there, with bf16 autocast where the
GPU supports it. The embedded models cannot travel to a GPU machine (at most 64 MiB per call), so
this check trains a model of the local agent's architecture and tokenizer (Qwen2, the embedded
Qwen2.5-Coder tokenizer) with random weights and a few hidden units, on real gold practice records.
It runs in three parts, on two machines:

``prepare`` (here)
    writes BUNDLE: ``base/`` (the tiny model, bf16 safetensors, with the tokenizer), ``records.jsonl``
    (the first N gold practice records) and ``held_out.jsonl`` (one record of a later question).
``train`` (on the GPU machine)
    trains BUNDLE twice with the same settings: in one sitting, and stopped by a SIGINT (as Ctrl-C)
    then resumed from its checkpoint; writes ``gpu_check.json`` (device, bf16, losses, step times,
    peak GPU memory, how far the resumed run's losses are from the straight run's), the LoRA
    adapter and the merged model's log-probabilities on the held-out record, on the GPU and on the
    CPU of that machine.
``speed`` (on the GPU machine)
    builds a random model of the embedded local model's full shape (Qwen2.5-0.5B) there and times
    LoRA and full fine-tuning steps on the bundle's records: what the gold practice would cost on
    such a GPU, against the 64-110 s per step measured on this CPU (``benchmarks/finetune_speed.py``).
``verify`` (here)
    applies the GPU-trained adapter to the base with PEFT on this CPU and compares its
    log-probabilities with the GPU's; exports base and adapter to GGUF and loads them into
    llama.cpp; adds what it found to the JSON file.

Usage::

    python benchmarks/gpu_training_check.py prepare --records runs/practice-gold-para/records.jsonl --bundle .gpucheck
    python benchmarks/gpu_training_check.py train --bundle .gpucheck --out $OUT          # on the GPU machine
    python benchmarks/gpu_training_check.py speed --bundle .gpucheck --out $OUT          # on the GPU machine
    python benchmarks/gpu_training_check.py verify --bundle .gpucheck --trained DIR --out docs/results/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from adaswitch.learning.finetune_settings import FinetuneSettings
from adaswitch.learning.records import SFTRecord, read_records, write_jsonl

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "max_position_embeddings": 4096, "tie_word_embeddings": True}
"""The tiny model's shape: the local agent's architecture (Qwen2) and vocabulary, few units."""

SETTINGS = FinetuneSettings(max_steps=12, batch_size=8, learning_rate=1e-2, lora_r=8, lora_alpha=16,
                            lora_dropout=0.1, max_length=1024, bf16="auto", checkpoint_every=3)
"""LoRA with dropout on (a resumed run must restore the random state too), a checkpoint every 3 steps."""

STOP_AT = 7
"""The SIGINT arrives during this optimiser step; the run saves it and stops, then resumes."""


LOCAL_SHAPE = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
               "num_key_value_heads": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
               "tie_word_embeddings": True}
"""Qwen2.5-0.5B's shape (the embedded local model's), for the speed figures."""

SPEED_STEPS = 8


def prepare(records_file: Path, bundle: Path, n: int, tokenizer_model: str) -> None:
    import torch
    from transformers import AutoTokenizer

    from adaswitch.embedded import resolve_model

    records = read_records(records_file)
    train = records[:n]
    questions = {r.source.get("sample_id") for r in train if r.source}
    held_out = next(r for r in records[n:] if r.source and r.source.get("sample_id") not in questions)
    gguf = resolve_model(tokenizer_model)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = random_qwen2(tokenizer, TINY).to(torch.bfloat16)
    base = bundle / "base"
    model.save_pretrained(str(base))
    tokenizer.save_pretrained(str(base))
    write_jsonl(bundle / "records.jsonl", train)
    write_jsonl(bundle / "held_out.jsonl", [held_out])
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    print(f"bundle {bundle}: {len(train)} records of {len(questions)} questions, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, {size / 2**20:.1f} MiB")


def random_qwen2(tokenizer: Any, shape: dict[str, Any]) -> Any:
    """A Qwen2 model of ``shape`` over ``tokenizer``'s vocabulary, its weights drawn with seed 0."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, **shape)
    return Qwen2ForCausalLM(config)


def _stop_during(step: int) -> Any:
    from transformers import TrainerCallback

    class StopDuring(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step + 1 == step:
                os.kill(os.getpid(), signal.SIGINT)

    return StopDuring()


def held_out_logprobs(model_dir: Path, held_out: SFTRecord, device: str, adapter: Path | None = None) -> Any:
    """Log-probabilities of the model at every completion position of the held-out record, [T, vocab]."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adaswitch.learning.examples import template_for, tokenize_record

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model = model.to(device).eval()
    example = tokenize_record(held_out, tokenizer, template_for(tokenizer))
    ids = torch.tensor([example["input_ids"]], device=device)
    first = example["completion_mask"].index(1)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, first - 1:-1].float()
    return torch.log_softmax(logits, dim=-1).cpu().numpy()


def train(bundle: Path, out: Path, settings: FinetuneSettings = SETTINGS) -> None:
    import numpy as np
    import torch

    from adaswitch.learning.checkpoints import TrainingInterrupted
    from adaswitch.learning.finetune import finetune

    out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/gpu-check")
    shutil.rmtree(work, ignore_errors=True)
    records = read_records(bundle / "records.jsonl")
    held_out = read_records(bundle / "held_out.jsonl")[0]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    straight = finetune(bundle / "base", records, work / "straight", settings, progress=False, overwrite=True)
    peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if gpu else None
    stopped_with = None
    try:
        finetune(bundle / "base", records, work / "stopped", settings, progress=False, overwrite=True,
                 callbacks=[_stop_during(STOP_AT)])
    except TrainingInterrupted as err:
        stopped_with = str(err)
    left = sorted(p.name for p in (work / "stopped" / "checkpoints").glob("checkpoint-*"))
    resumed = finetune(bundle / "base", records, work / "stopped", settings, progress=False)
    gaps = [abs(a - b) / max(abs(a), 1e-9) for a, b in zip(straight.losses, resumed.losses, strict=True)]

    merged = straight.model_dir
    on_gpu = held_out_logprobs(merged, held_out, "cuda" if gpu else "cpu")
    on_cpu = held_out_logprobs(merged, held_out, "cpu")
    np.save(out / "logprobs_gpu.npy", on_gpu.astype(np.float32))
    assert straight.adapter_dir is not None
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (out / name).write_bytes((straight.adapter_dir / name).read_bytes())
    result = {
        "what": "the project's finetune() on a tiny randomly initialised Qwen2 model (the local agent's "
                "architecture and tokenizer) and real gold practice records, on a GPU machine",
        "command": "python benchmarks/gpu_training_check.py train --bundle .gpucheck --out $OUT",
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "gpu": torch.cuda.get_device_name(0) if gpu else None, "torch": torch.__version__,
                    "cuda": torch.version.cuda},
        "model": TINY,
        "settings": settings.to_json(),
        "straight": {k: straight.to_json()[k] for k in ("device", "bf16", "steps", "losses", "median_step_seconds",
                                                         "seconds", "total_seconds", "counts", "versions")},
        "peak_gpu_memory_mb": round(peak_gpu_mb, 1) if peak_gpu_mb is not None else None,
        "loss_first_last": [straight.losses[0], straight.losses[-1]],
        "stopped": {"stop_during_step": STOP_AT, "error": stopped_with, "checkpoints_left": left},
        "resumed": {"resumed_at": resumed.resumed_at, "steps": resumed.steps, "losses": resumed.losses,
                    "max_relative_loss_gap_to_straight": max(gaps)},
        "merged_gpu_vs_cpu_max_abs_logprob_gap": float(np.abs(on_gpu - on_cpu).max()),
        "merged_gpu_vs_cpu_top1_agreement": float((on_gpu.argmax(-1) == on_cpu.argmax(-1)).mean()),
    }
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def speed(bundle: Path, out: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    from adaswitch.learning.finetune import finetune

    out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/gpu-speed")
    gpu = torch.cuda.is_available()
    shutil.rmtree(work, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(bundle / "base"))
    base = work / "base"
    random_qwen2(tokenizer, LOCAL_SHAPE).save_pretrained(str(base))
    tokenizer.save_pretrained(str(base))
    records = read_records(bundle / "records.jsonl")
    figures = {}
    for method in ("lora", "full"):
        settings = FinetuneSettings(method=method, max_steps=SPEED_STEPS, batch_size=4, max_length=1536,
                                    checkpoint_every=0)
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        result = finetune(base, records, work / method, settings, progress=False)
        tokens = result.counts.completion_tokens
        figures[method] = {
            "device": result.device, "bf16": result.bf16, "steps": result.steps,
            "step_seconds": [round(t, 3) for t in result.step_seconds],
            "median_step_seconds_after_first": round(statistics.median(result.step_seconds[1:]), 3),
            "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if gpu else None,
            "losses": result.losses,
        }
        print(method, json.dumps(figures[method]), "completion tokens in the records:", tokens)
    lengths = _example_lengths(records, tokenizer)
    result = {
        "what": "fine-tuning steps of a randomly initialised model of Qwen2.5-0.5B's shape, batch 4 of the "
                "bundle's gold practice records, on a GPU machine; weights are random, so only times and memory count",
        "command": "python benchmarks/gpu_training_check.py speed --bundle .gpucheck --out $OUT",
        "gpu": torch.cuda.get_device_name(0) if gpu else None, "shape": LOCAL_SHAPE,
        "median_tokens_per_example": statistics.median(lengths),
        "methods": figures,
        "cpu_for_comparison": "benchmarks/results/finetune_speed.json: a LoRA step of the real 0.5B, batch 4 of "
                              "examination records, 64 s (bf16 on AMX) to 110 s (float32) on this project's 2-core CPU",
    }
    (out / "gpu_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _example_lengths(records: list[SFTRecord], tokenizer: Any) -> list[int]:
    """Tokens of each record's training example (prompt and completion)."""
    from adaswitch.learning.examples import template_for, tokenize_record

    template = template_for(tokenizer)
    return [len(tokenize_record(record, tokenizer, template)["input_ids"]) for record in records]


def verify(bundle: Path, trained: Path, out: Path) -> None:
    import numpy as np

    from adaswitch.backends.base import CompletionRequest
    from adaswitch.backends.llamacpp import LlamaCppBackend
    from adaswitch.learning.export import export_gguf, export_lora_gguf

    result = json.loads((trained / "gpu_check.json").read_text())
    held_out = read_records(bundle / "held_out.jsonl")[0]
    on_gpu = np.load(trained / "logprobs_gpu.npy")
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    adapter = scratch / "adapter"
    adapter.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (adapter / name).write_bytes((trained / name).read_bytes())
    here = held_out_logprobs(bundle / "base", held_out, "cpu", adapter=adapter)
    base_only = held_out_logprobs(bundle / "base", held_out, "cpu")
    verified: dict[str, Any] = {
        "command": "python benchmarks/gpu_training_check.py verify --bundle .gpucheck --trained DIR",
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "peft_cpu_vs_gpu_max_abs_logprob_gap": float(np.abs(here - on_gpu).max()),
        "peft_cpu_vs_gpu_top1_agreement": float((here.argmax(-1) == on_gpu.argmax(-1)).mean()),
        "base_vs_gpu_max_abs_logprob_gap": float(np.abs(base_only - on_gpu).max()),
    }
    start = time.perf_counter()
    base_gguf = export_gguf(bundle / "base", scratch / "base.gguf", "f32")
    lora_gguf = export_lora_gguf(adapter, scratch / "lora.gguf", bundle / "base", "f32")
    verified["export_seconds"] = round(time.perf_counter() - start, 1)
    from transformers import AutoTokenizer

    from adaswitch.learning.examples import template_for, tokenize_record

    tokenizer = AutoTokenizer.from_pretrained(str(bundle / "base"))
    example = tokenize_record(held_out, tokenizer, template_for(tokenizer))
    first = example["completion_mask"].index(1)
    backend = LlamaCppBackend(base_gguf, lora_path=lora_gguf, n_ctx=2048, seed=0)
    try:
        completion = backend.complete(CompletionRequest(messages=held_out.messages, continue_final=True, max_tokens=1,
                                                        logprobs=True, top_logprobs=10))
    finally:
        backend.close()
        shutil.rmtree(scratch, ignore_errors=True)
    assert completion.logprobs
    top = completion.logprobs[0].top
    peft_first = {tokenizer.decode([i]): float(here[0, i]) for i in range(here.shape[1])}
    gaps = [abs(lp - peft_first[token]) for token, lp in top.items() if token in peft_first]
    peft_top = sorted(peft_first, key=peft_first.get, reverse=True)[:10]
    verified["llama_cpp_with_adapter"] = {
        "what": "the GGUF base with the GGUF adapter in llama.cpp against PEFT on this CPU: the first "
                "completion position's top 10 log-probabilities",
        "greedy_token": completion.text, "peft_greedy_token": peft_top[0],
        "top10_overlap": len(set(top) & set(peft_top)), "max_abs_logprob_gap": max(gaps) if gaps else None,
        "held_out_prompt_tokens": first,
    }
    result["verified_here"] = verified
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(verified, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--records", type=Path, required=True)
    p.add_argument("--bundle", type=Path, default=Path(".gpucheck"))
    p.add_argument("-n", type=int, default=96)
    p.add_argument("--tokenizer-model", default="qwen2.5-coder-0.5b")
    t = sub.add_parser("train")
    t.add_argument("--bundle", type=Path, default=Path(".gpucheck"))
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--smoke", action="store_true", help="a small CPU dry run of the same code (batch 1, 256 tokens)")
    sp = sub.add_parser("speed")
    sp.add_argument("--bundle", type=Path, default=Path(".gpucheck"))
    sp.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("verify")
    v.add_argument("--bundle", type=Path, default=Path(".gpucheck"))
    v.add_argument("--trained", type=Path, required=True)
    v.add_argument("--out", type=Path, default=Path("docs/results/gpu_check.json"))
    args = parser.parse_args(argv)
    if args.part == "prepare":
        prepare(args.records, args.bundle, args.n, args.tokenizer_model)
    elif args.part == "train":
        train(args.bundle, args.out, replace(SETTINGS, batch_size=1, max_length=256) if args.smoke else SETTINGS)
    elif args.part == "speed":
        speed(args.bundle, args.out)
    else:
        verify(args.bundle, args.trained, args.out)


if __name__ == "__main__":
    main()
