"""Which layer of the local model separates its wrong steps from its right ones?

The shipped probe (``adaswitch.learning.probe``) reads the final hidden state (after the output norm)
through llama.cpp, which exposes no other layer. This diagnostic loads the same GGUF in transformers
(dequantised, float32, CPU), renders each labelled step's judgment prompt with the same code as
inference, reads the state of the prompt's last token at every layer, and reports, per layer, the
held-out AUROC of a logistic-regression probe with folds that keep each question whole and the L2
strength chosen inside each fold (nested), exactly as ``fit_probe_on_steps`` reports it.

A layer well above the final one would say the signal exists but is read at the wrong place; all
layers at chance would point at the labels or the amount of data.

Usage: python benchmarks/probe_layers.py LABELLED_STEPS.jsonl [--local qwen2.5-coder-0.5b]
       [--features FEATURES.npz] [--out OUT.json] [--limit N]
Needs the ``learn`` extra (torch, transformers). Writes ``benchmarks/results/probe_layers.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=Path)
    parser.add_argument("--local", default="qwen2.5-coder-0.5b")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/probe_layers.json"))
    parser.add_argument("--features", type=Path, default=None, help="cache of the per-layer states (.npz)")
    parser.add_argument("--limit", type=int, default=None, help="first N usable steps only (a quick check)")
    args = parser.parse_args()

    import numpy as np

    from adaswitch.learning.probe import fit_probe_on_features
    from adaswitch.learning.records import read_labelled_steps
    from adaswitch.parsing import parse_step

    steps = [s for s in read_labelled_steps(args.steps) if parse_step(s.step_text, s.family).action is not None]
    steps = steps[: args.limit] if args.limit else steps
    started = time.perf_counter()
    if args.features is not None and args.features.exists():
        states = np.load(args.features)["states"]
        if len(states) != len(steps):
            raise SystemExit(f"{args.features} holds {len(states)} rows for {len(steps)} steps: delete it to reread")
    else:
        states = read_layer_states(args.local, steps)
        if args.features is not None:
            np.savez_compressed(args.features, states=states)
    feature_seconds = round(time.perf_counter() - started, 1)

    y = np.array([s.wrong for s in steps])
    groups = [s.sample_id for s in steps]
    per_layer = []
    for layer in range(states.shape[1]):
        figures = fit_probe_on_features(states[:, layer, :].astype(np.float64), y, groups).figures
        per_layer.append({"layer": layer, "heldout_auroc": figures["heldout_auroc"], "l2": figures["l2"],
                          "train_auroc": figures["train_auroc"]})
        print(f"layer {layer:2d}: held-out AUROC {figures['heldout_auroc']:.3f} (l2 {figures['l2']:g})", flush=True)
    best = max(per_layer, key=lambda r: r["heldout_auroc"] or 0.0)
    result = {
        "steps": str(args.steps), "local": args.local, "n": len(y), "wrong": int(y.sum()),
        "questions": len(set(groups)), "feature_seconds": feature_seconds,
        "machine": f"{platform.machine()}, CPU only",
        "note": "layer 0 is the embedding output; the last layer is after the output norm (what llama.cpp exposes)",
        "best_layer": best, "per_layer": per_layer,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "per_layer"}, indent=2))


def read_layer_states(local: str, steps: list) -> np.ndarray:
    """(steps, layers + 1, hidden) float32: the last prompt token's state at every layer.

    The token prefix that all judgment prompts share (system prompt and exemplars) is run once and
    its key/value cache cropped back to it after each step.
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from adaswitch.learning.finetune import load_base
    from adaswitch.prompts import prompts_for

    loaded = load_base(local)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    texts = [loaded.template.render(prompts_for(s.family).judgment_messages(s.question, s.trajectory, s.step_text),
                                    continue_final=True) for s in steps]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    shared = _common_prefix_length(ids)
    out = []
    with torch.inference_mode():
        prefix = torch.tensor([ids[0][:shared]])
        cache = model(prefix, use_cache=True).past_key_values if shared else None
        for row in tqdm(ids, desc="layer states", unit="step"):
            rest = torch.tensor([row[shared:]])
            reply = model(rest, past_key_values=cache, use_cache=True, output_hidden_states=True)
            out.append(np.stack([h[0, -1].float().numpy() for h in reply.hidden_states]))
            if cache is not None:
                cache.crop(-len(row[shared:]))  # drop this step's tokens, keep the shared prefix
    return np.stack(out).astype(np.float32)


def _common_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with, leaving at least one token of each row to run."""
    n = min(len(r) for r in rows) - 1
    for i in range(n):
        if any(r[i] != rows[0][i] for r in rows):
            return i
    return max(n, 0)


if __name__ == "__main__":
    main()
