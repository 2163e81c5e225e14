"""The headline comparison: per benchmark, every method on the same questions, from run directories.

Reads a manifest (``benchmarks/headline_runs.json`` by default) that names, per benchmark, its
local-only run, its cloud-only run (a local-only run of the cloud model serves: the same prompt) and
its switching runs, and writes ``OUT/headline.json`` (``{"benchmarks": {NAME: {"n", "methods",
"paired", "apgr", "not_run", "wall_time_s", ...}}}``; see :mod:`adaswitch.evaluation.headline`) and
``OUT/headline.md``. A benchmark whose runs are not all on this machine is skipped with a message
(its records may be in a tarball the manifest names: ``tar -C runs -xJf TARBALL``), and its entry
in an existing ``headline.json`` is kept. Never runs a model.

Manifest: ``{"gsm8k": {"local": DIR, "cloud": DIR, "switching": [DIR, ...], "records": [TARBALL, ...]}}``.

Usage: python benchmarks/headline.py [--manifest benchmarks/headline_runs.json] [--out docs/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from adaswitch.evaluation.headline import BenchmarkHeadline, benchmark_headline, markdown

NAMES = {"gsm8k": "GSM8K", "svamp": "SVAMP", "asdiv": "ASDiv", "math500": "MATH-500", "hotpotqa": "HotpotQA",
         "2wiki": "2WikiMultiHopQA", "strategyqa": "StrategyQA"}


def headlines(manifest: dict) -> tuple[dict[str, BenchmarkHeadline], list[str]]:
    """Each benchmark's headline whose runs are all present, and a message for each one skipped."""
    made, skipped = {}, []
    for name, entry in manifest.items():
        dirs = [Path(entry["local"]), Path(entry["cloud"]), *map(Path, entry.get("switching", []))]
        absent = [str(d) for d in dirs if not (d / "config.json").is_file()]
        if absent:
            where = "".join(f" (records: tar -C runs -xJf {t})" for t in tarballs(entry))
            skipped.append(f"{name}: skipped, no run at {', '.join(absent)}{where}")
            continue
        made[name] = benchmark_headline(dirs[0], dirs[1], dirs[2:], entry.get("slice", ""))
    return made, skipped


def tarballs(entry: dict) -> list[str]:
    """The compressed records a manifest entry names (one path or a list)."""
    records = entry.get("records") or []
    return [records] if isinstance(records, str) else list(records)


def write(made: dict[str, BenchmarkHeadline], out: Path, manifest_path: Path, records: dict[str, list[str]]) -> None:
    """Merge ``made`` into ``OUT/headline.json`` (other benchmarks' entries kept) and rewrite ``headline.md``."""
    path = out / "headline.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    benchmarks = old.get("benchmarks", {}) if isinstance(old, dict) else {}
    for name, headline in made.items():
        benchmarks[name] = headline.model_dump() | ({"records": records[name]} if records.get(name) else {})
    order = list(NAMES)
    benchmarks = dict(sorted(benchmarks.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    document = {"benchmarks": benchmarks, "generated": {
        "command": "python benchmarks/headline.py " + " ".join(sys.argv[1:]), "manifest": str(manifest_path),
        "machine": f"{platform.machine()}, {platform.system()}",
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    text = "\n".join(markdown(BenchmarkHeadline.model_validate(entry), NAMES.get(name, name))
                     for name, entry in benchmarks.items())
    (out / "headline.md").write_text("## Headline: every method on the same questions\n\n" + text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=Path(__file__).with_name("headline_runs.json"))
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text())
    made, skipped = headlines(manifest)
    for message in skipped:
        print(message, file=sys.stderr)
    write(made, args.out, args.manifest, {name: tarballs(entry) for name, entry in manifest.items()})
    print((args.out / "headline.md").read_text())


if __name__ == "__main__":
    main()
