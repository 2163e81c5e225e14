"""The README's pictures: accuracy against the cloud's cost, one line per method.

Reads ``docs/results/introspection.json`` (written by ``benchmarks/introspection.py``) and draws, for
one benchmark, each method's measured points joined in order of cloud share, the local agent at 0
and the cloud agent at 1 (a dashed chord between them: what mixing the two at random reaches), and
writes a PNG. With ``--headline`` it reads ``docs/results/headline.json`` instead (written by
``benchmarks/headline.py``) and puts every method family on the ``--axis`` it names: the cloud's
share of the steps, or its spend against the cloud alone's in steps or tokens (on a spend axis the
chord is what sending whole questions to the cloud at random reaches). Needs matplotlib (the
``plot`` extra).

Usage: python benchmarks/plot_curves.py [--benchmark gsm8k] [--within paragraphs]
       [--results docs/results/introspection.json] [--out docs/results/curves-gsm8k.png]
       python benchmarks/plot_curves.py --headline docs/results/headline.json --benchmark gsm8k
       [--axis cloud_spend_steps]
(``--within NAME``: the benchmark's sub-entry NAME, e.g. the paragraph format's comparison.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


AXES = {"cloud_share_steps": "cloud share of steps",
        "cloud_spend_steps": "cloud spend: the cloud's steps against the cloud alone's",
        "cloud_spend_tokens": "cloud spend: the cloud's tokens against the cloud alone's"}
FAMILIES = ("adaswitch", "escalation", "random", "position", "cascade")


def headline_entry(headline: dict, axis: str) -> dict:
    """One benchmark of ``headline.json`` as a curves entry: each family's rows as points on ``axis``."""
    rows = headline["methods"]
    accuracy = {r["method"]: r["accuracy"] for r in rows if r["method"] in ("local", "cloud")}
    curves = {family: [[r[axis], r["accuracy"]] for r in rows if r["method"] == family and r.get(axis) is not None]
              for family in FAMILIES}
    return {"local_accuracy": accuracy.get("local"), "cloud_accuracy": accuracy.get("cloud"),
            "curves": {k: v for k, v in curves.items() if v}, "n": headline["n"], "slice": headline.get("slice", ""),
            "local_model": headline.get("local_model", "")}


def plot(entry: dict, title: str, out: Path, xlabel: str = AXES["cloud_share_steps"],
         chord: str = "local/cloud mix (chord)", unjoined: frozenset[str] = frozenset()) -> Path:
    """Draw ``entry``'s curves; the methods in ``unjoined`` as points only (points of different runs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    local, cloud = entry.get("local_accuracy"), entry.get("cloud_accuracy")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    if local is not None and cloud is not None:
        ax.plot([0, 1], [local, cloud], linestyle="--", color="grey", linewidth=1, label=chord)
        ax.scatter([0, 1], [local, cloud], color="black", zorder=3)
        ax.annotate("local", (0, local), textcoords="offset points", xytext=(6, -12))
        ax.annotate("cloud", (1, cloud), textcoords="offset points", xytext=(-34, 6))
    markers = "osD^vP"
    for k, (method, points) in enumerate(sorted(entry.get("curves", {}).items())):
        if not points:
            continue
        xs, ys = zip(*sorted(points))
        # hollow markers of falling size, so that methods on the same point stay visible
        ax.plot(xs, ys, marker=markers[k % len(markers)], markersize=10 - k, markerfacecolor="none",
                markeredgewidth=1.5, label=method, linestyle="none" if method in unjoined else "-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_xlim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="gsm8k")
    parser.add_argument("--results", type=Path, default=Path("docs/results/introspection.json"))
    parser.add_argument("--within", help="plot the benchmark's sub-entry of this name (e.g. paragraphs)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--headline", type=Path, help="plot from this headline.json instead")
    parser.add_argument("--axis", choices=sorted(AXES), default="cloud_spend_steps", help="with --headline: the x axis")
    args = parser.parse_args()
    if args.headline:
        benchmarks = json.loads(args.headline.read_text())["benchmarks"]
        if args.benchmark not in benchmarks:
            raise SystemExit(f"{args.headline} has no entry for {args.benchmark}")
        entry = headline_entry(benchmarks[args.benchmark], args.axis)
        title = f"{args.benchmark} {entry['slice']}, n = {entry['n']}\nlocal: {entry['local_model']}"
        out = args.out or args.headline.parent / f"headline-{args.benchmark}-{args.axis}.png"
        chord = "whole questions to the cloud at random" if "spend" in args.axis else "local/cloud mix (chord)"
        print(f"wrote {plot(entry, title, out, AXES[args.axis], chord, frozenset({'escalation'}))}")
        return
    results = json.loads(args.results.read_text())
    if args.benchmark not in results:
        raise SystemExit(f"{args.results} has no entry for {args.benchmark}")
    entry, name = results[args.benchmark], args.benchmark
    if args.within:
        if args.within not in entry:
            raise SystemExit(f"{args.results} has no entry {args.benchmark}.{args.within}")
        entry, name = entry[args.within], f"{args.benchmark}-{args.within}"
    title = f"{name} {entry.get('slice', '')}, n = {entry.get('n')}\nlocal: {entry.get('local_model', '')}"
    out = plot(entry, title, args.out or args.results.parent / f"curves-{name}.png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
