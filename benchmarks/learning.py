"""The collaborative-learning benchmark on the embedded pair.

1. Runs the learning pipeline (``adaswitch learn run``) on a GSM8K training slice: self-practice,
   fine-tuning, examination, reflective learning, probes for the base and the reflected model.
2. Evaluates on a held-out GSM8K test slice and a QA slice (``adaswitch sweep``), before learning
   (base local agent: verifier prompt, token confidence, hidden-state probe) and after (reflected
   local agent: trained judgment), with local-only, cloud-only and random switching for reference.
3. Writes ``docs/results/learning.{md,json}`` with introspection AUROC per signal, local accuracy
   before and after learning, AdaSwitch accuracy against cloud share and APGR, and the times.

Every signal first runs at threshold 1 (no switching): the local agent's greedy trajectories are then the
same for all signals, so their AUROC is measured on identical steps. The switching thresholds follow.
With ``--stages`` leaving out the training stages, only the frozen base model's signals are evaluated.
``--identical-only`` stops there (introspection AUROC on a wider slice for the cost of one local run per
signal); ``--compare-trained LABEL=MODEL`` adds the trained judgment of another registered model.

Resumable: every stage and run keeps its own directory; rerun the same command to continue.
Usage: python benchmarks/learning.py [--practice 24 --exam 30 --test-limit 20 --qa-limit 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from adaswitch.cli.learn import EXIT_BUDGET, EXIT_SIGNAL

ADASWITCH = [sys.executable, "-m", "adaswitch.cli.__main__"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/learning"))
    parser.add_argument("--name", default="gsm8k-learned")
    parser.add_argument("--practice", type=int, default=24, help="GSM8K train questions for self-practice")
    parser.add_argument("--exam", type=int, default=30, help="GSM8K train questions for the examination")
    parser.add_argument("--max-train-steps", type=int, default=40)
    parser.add_argument("--practice-epochs", type=float, default=2.0)
    parser.add_argument("--probe-for", default="base,reflected")
    parser.add_argument("--skip-practice", action="store_true", help="examine the base model (no self-practice)")
    parser.add_argument("--pipeline", type=Path, default=None, help="pipeline work dir (default WORK/pipeline)")
    parser.add_argument("--test-offset", type=int, default=100, help="held-out GSM8K test questions start here")
    parser.add_argument("--test-limit", type=int, default=20)
    parser.add_argument("--qa", default="hotpotqa")
    parser.add_argument("--qa-limit", type=int, default=10)
    parser.add_argument("--thresholds", default="0.3,0.5")
    parser.add_argument("--stages", default="all", help="pipeline stages (see adaswitch learn run --stages)")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="stop training with a checkpoint within MINUTES (then rerun this command to go on)")
    parser.add_argument("--identical-only", action="store_true",
                        help="evaluate introspection only: the threshold-1 runs, no switching, no local/cloud runs")
    parser.add_argument("--compare-trained", type=_label_and_model, action="append", default=[], metavar="LABEL=MODEL",
                        help="also evaluate the trained judgment of this registered model (repeatable)")
    parser.add_argument("--position-thresholds", default=None, metavar="T,T,...",
                        help="also switch by step position alone (introspection 'position') at these thresholds")
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    parser.add_argument("--report", default="learning", help="report file names: OUT/REPORT.{md,json}")
    args = parser.parse_args()

    times: dict[str, float] = {}
    work = args.work
    pipeline = args.pipeline or work / "pipeline"
    started = time.perf_counter()
    _run(ADASWITCH + ["learn", "run", str(pipeline), "--name", args.name, "--practice-questions", str(args.practice),
                      "--exam-questions", str(args.exam), "--max-train-steps", str(args.max_train_steps),
                      "--probe-for", args.probe_for, "--practice-epochs", str(args.practice_epochs),
                      "--stages", args.stages, "--no-progress"] + (["--skip-practice"] if args.skip_practice else [])
         + (["--time-budget", str(args.time_budget)] if args.time_budget else []), stopped_ok=True)
    times["pipeline"] = round(time.perf_counter() - started, 1)
    manifest = json.loads((pipeline / "pipeline.json").read_text())
    reflected = _registered(manifest, "reflect-train")
    practised = _registered(manifest, "practice-train")
    probes = manifest["stages"].get("probe", {}).get("outputs", {})

    slices = {"gsm8k": ["--offset", str(args.test_offset), "--limit", str(args.test_limit)]}
    if args.qa_limit > 0:
        slices[args.qa] = ["--limit", str(args.qa_limit)]
    configs = evaluation_configs(probes, reflected, args.compare_trained)
    evals = work / "eval"
    for bench, slice_args in slices.items():
        started = time.perf_counter()
        for command in sweep_commands(bench, slice_args, configs, evals, args.thresholds, practised,
                                      args.identical_only, args.position_thresholds):
            _run(ADASWITCH + command)
        times[f"eval-{bench}"] = round(time.perf_counter() - started, 1)

    results = summarize(evals, list(slices), manifest)
    info = {
        "command": " ".join(["python", *sys.argv]),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "local": "qwen2.5-coder-0.5b (in process)", "cloud": "qwen2.5-coder-1.5b (in-process stand-in)",
        "train_slice": train_slice(manifest, args.practice, args.exam),
        "test_slices": {"gsm8k": f"test questions {args.test_offset}-{args.test_offset + args.test_limit - 1}",
                        **({args.qa: f"first {args.qa_limit} evaluation questions"} if args.qa_limit > 0 else {})},
        "seconds": times, "pipeline_stages": {k: {"seconds": v.get("seconds"), "figures": v.get("figures")}
                                              for k, v in manifest["stages"].items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.report}.json").write_text(json.dumps({"info": info, "results": results}, indent=2) + "\n")
    (args.out / f"{args.report}.md").write_text(render(info, results))
    print(render(info, results))


def evaluation_configs(probes: dict, reflected: str | None,
                       compare_trained: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(label, sweep flags) of every local agent and signal to evaluate: the base model's verifier prompt,
    token confidence and probe, the reflected model's trained judgment (and its probe), and any other
    trained models named for comparison."""
    configs = [("base-verifier", ["--introspection", "verifier"]),
               ("base-confidence", ["--introspection", "confidence"])]
    if "base" in probes:
        configs.append(("base-probe", ["--introspection", "probe", "--probe", probes["base"]]))
    if reflected:
        configs.append(("reflected-trained", ["--introspection", "trained", "--local", reflected]))
        if "reflected" in probes:
            configs.append(("reflected-probe", ["--introspection", "probe", "--probe", probes["reflected"],
                                                "--local", reflected]))
    configs += [(label, ["--introspection", "trained", "--local", model]) for label, model in compare_trained]
    return configs


def sweep_commands(bench: str, slice_args: list[str], configs: list[tuple[str, list[str]]], evals: Path,
                   thresholds: str, practised: str | None, identical_only: bool,
                   position_thresholds: str | None = None) -> list[list[str]]:
    """The ``adaswitch sweep`` commands of one benchmark slice, in order: every signal at threshold 1
    first (no switching: identical greedy local steps for all), then, unless ``identical_only``, the
    switching thresholds with local and cloud alone, random switching at the verifier's rates and the
    local-only accuracy of each trained model beside them, and the position baseline at its own
    ``position_thresholds`` (its threshold-1 AUROC is the report's "step position alone")."""
    common = ["sweep", bench, *slice_args, "--no-progress"]
    commands = [common + ["--out", str(evals / bench / label), "--thresholds", "1", "--methods", "adaswitch", *extra]
                for label, extra in configs]
    if identical_only:
        return commands
    trained = {label for label, extra in configs if extra[:2] == ["--introspection", "trained"]}
    for label, extra in configs:
        methods = ("local,cloud,adaswitch,random" if label == "base-verifier"
                   else "local,adaswitch" if label in trained else "adaswitch")
        commands.append(common + ["--out", str(evals / bench / label), "--thresholds", thresholds,
                                  "--methods", methods, *extra])
    if practised:
        commands.append(common + ["--out", str(evals / bench / "practised"), "--methods", "local",
                                  "--local", practised])
    if position_thresholds:
        commands.append(common + ["--out", str(evals / bench / "base-position"), "--thresholds", position_thresholds,
                                  "--methods", "adaswitch", "--introspection", "position"])
    return commands


def _label_and_model(text: str) -> tuple[str, str]:
    label, sep, model = text.partition("=")
    if not (sep and label and model):
        raise argparse.ArgumentTypeError(f"expected LABEL=MODEL, got {text!r}")
    return label, model


def train_slice(manifest: dict, practice: int, exam: int) -> str:
    """The GSM8K training questions the pipeline's finished stages used."""
    done = {k for k, v in manifest["stages"].items() if v.get("status") == "done"}
    practised = "practice" in done
    parts = [f"practice questions 0-{practice - 1}"] if practised else []
    if "exam" in done:
        start = practice if practised else 0
        parts.append(f"exam questions {start}-{start + exam - 1}")
    return "GSM8K train: " + (", ".join(parts) or "none") + ("" if practised else " (no self-practice)")


def _registered(manifest: dict, stage: str) -> str | None:
    """The model a training stage registered, or None when the stage was not run."""
    entry = manifest["stages"].get(stage, {})
    return entry.get("outputs", {}).get("registered_as") if entry.get("status") == "done" else None


def summarize(evals: Path, benches: list[str], manifest: dict) -> dict:
    from adaswitch.benchmarks import get_benchmark
    from adaswitch.grading.metrics import curve_metrics, summarize_run
    from adaswitch.grading.rundir import load_run

    out: dict = {}
    for bench in benches:
        rows = []
        for config_dir in sorted((evals / bench).iterdir()):
            for run_dir in sorted(p for p in config_dir.iterdir() if p.is_dir()):
                config, records = load_run(run_dir)
                samples = {s.id: s for s in get_benchmark(bench).load(config.split, ids=config.sample_ids)}
                s = summarize_run(config, records, samples)
                rows.append({"config": config_dir.name, "run": run_dir.name, "method": s.method,
                             "threshold": s.threshold, "n": s.n, "accuracy": s.accuracy,
                             "cloud_share_steps": s.cloud_share_steps, "cloud_share_tokens": s.cloud_share_tokens,
                             "auroc": s.auroc, "auroc_signal": s.auroc_signal, "auroc_n": s.auroc_n,
                             "auroc_wrong": s.auroc_wrong, "auroc_position": s.auroc_position,
                             "auroc_first": s.auroc_first, "auroc_first_n": s.auroc_first_n,
                             "auroc_first_position": s.auroc_first_position,
                             "auroc_first_interval": s.auroc_first_interval})
        base_local = _acc(rows, "base-verifier", "local")
        cloud = _acc(rows, "base-verifier", "cloud")
        curves = {}
        for config in sorted({r["config"] for r in rows}):
            points = [(r["cloud_share_steps"] or 0.0, r["accuracy"]) for r in rows
                      if r["config"] == config and r["method"] == "adaswitch" and r["accuracy"] is not None]
            if points and base_local is not None and cloud is not None:
                c = curve_metrics(points, base_local, cloud)
                curves[config] = {"apgr": c.apgr, "share_for_50": c.share_for_50, "share_for_80": c.share_for_80,
                                  "points": c.points}
        out[bench] = {"runs": rows, "curves": curves, "base_local": base_local, "cloud": cloud}
    return out


def _acc(rows: list[dict], config: str, method: str) -> float | None:
    return next((r["accuracy"] for r in rows if r["config"] == config and r["method"] == method), None)


def _flat(figures: dict) -> dict:
    """One level of nesting opened: the probe stage reports its figures per model ("base.heldout_auroc")."""
    out = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _interval(bounds: list[float] | tuple[float, float] | None) -> str:
    return "" if not bounds else f"[{bounds[0]:.2f}, {bounds[1]:.2f}] "


def render(info: dict, results: dict) -> str:
    lines = ["# Collaborative learning on the embedded pair", "",
             f"Command: `{info['command']}`; machine: {info['machine']}; finished {info['finished_at']}.",
             f"Local agent {info['local']}; cloud agent {info['cloud']}.",
             f"Training: {info['train_slice']}. Held-out: "
             + "; ".join(f"{k} {v}" for k, v in info["test_slices"].items()) + ".", "",
             "## Pipeline stages", "", "| stage | seconds | figures |", "|---|---|---|"]
    for stage, entry in info["pipeline_stages"].items():
        figures = ", ".join(f"{k}={_short(v)}" for k, v in _flat(entry["figures"] or {}).items()
                            if isinstance(v, (int, float, str)))
        lines.append(f"| {stage} | {entry['seconds']} | {figures} |")
    for bench, data in results.items():
        lines += ["", f"## {bench}", ""]
        same = [r for r in data["runs"] if r["method"] == "adaswitch" and r["threshold"] == 1.0]
        if same:
            lines += ["Introspection on identical steps (threshold 1: no switching, so every signal judges the "
                      "same greedy local trajectories):", "",
                      "| local agent / signal | judged steps (wrong) | AUROC (all judged steps) | AUROC (signal only) "
                      "| step position alone | AUROC up to the first error (steps) | step position alone there |",
                      "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['config']} | {r['auroc_n']} ({r['auroc_wrong']}) | {_num(r['auroc'])} | "
                      f"{_num(r['auroc_signal'])} | {_num(r.get('auroc_position'))} | {_num(r.get('auroc_first'))} "
                      f"{_interval(r.get('auroc_first_interval'))}({r.get('auroc_first_n', '-')}) | "
                      f"{_num(r.get('auroc_first_position'))} |" for r in same]
            lines += ["", "\"Step position alone\" scores each step by how far into its trajectory it is: the AUROC "
                      "a signal gets for free, since a small model that goes wrong early then loops. \"Up to the "
                      "first error\" keeps each trajectory's steps until its first wrong one, the decisions at "
                      "which switching could still keep it right; the brackets hold its 95% interval when whole "
                      "trajectories are resampled.", ""]
        lines += [
                  "| local agent / signal | run | n | accuracy | cloud share of steps | AUROC (all judged steps) "
                  "| AUROC (signal only) | judged steps (wrong) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in data["runs"]:
            lines.append(f"| {r['config']} | {r['run']} | {r['n']} | {_pct(r['accuracy'])} | "
                         f"{_pct(r['cloud_share_steps'])} | {_num(r['auroc'])} | {_num(r['auroc_signal'])} | "
                         f"{r['auroc_n']} ({r['auroc_wrong']}) |")
        lines += ["", "| AdaSwitch curve | APGR | cloud share for 50% of the gap | for 80% |", "|---|---|---|---|"]
        for config, c in data["curves"].items():
            lines.append(f"| {config} | {_num(c['apgr'])} | {_pct(c['share_for_50'])} | {_pct(c['share_for_80'])} |")
    lines += ["", "APGR and shares are measured against the base local agent's and the cloud agent's "
              "accuracy on the same slice.", "",
              f"Wall time of this invocation (s; a resumed run counts only what it ran): {json.dumps(info['seconds'])}",
              ""]
    return "\n".join(lines)


def _run(command: list[str], stopped_ok: bool = False) -> None:
    """Run an adaswitch command; with ``stopped_ok`` a training it stopped with a checkpoint (exit
    130 or 75) ends this script with the same status instead of a traceback."""
    print("+", " ".join(command[2:]), flush=True)
    status = subprocess.run(command, check=False).returncode
    if stopped_ok and status in (EXIT_SIGNAL, EXIT_BUDGET):
        print("training stopped with a checkpoint; run this command again to go on", file=sys.stderr)
        raise SystemExit(status)
    if status:
        raise subprocess.CalledProcessError(status, command)


if __name__ == "__main__":
    main()
