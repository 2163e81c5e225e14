"""The README's picture: accuracy against the cloud's share of steps, one line per switching method.

Reads ``docs/results/introspection.json`` (written by ``benchmarks/introspection.py``) and draws, for
one benchmark, each method's measured points joined in order of cloud share, the local agent at 0
and the cloud agent at 1 (a dashed chord between them: what mixing the two at random reaches), and
writes a PNG. Needs matplotlib (the ``plot`` extra).

Usage: python benchmarks/plot_curves.py [--benchmark gsm8k] [--within paragraphs]
       [--results docs/results/introspection.json] [--out docs/results/curves-gsm8k.png]
(``--within NAME``: the benchmark's sub-entry NAME, e.g. the paragraph format's comparison.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def plot(entry: dict, title: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    local, cloud = entry.get("local_accuracy"), entry.get("cloud_accuracy")
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    if local is not None and cloud is not None:
        ax.plot([0, 1], [local, cloud], linestyle="--", color="grey", linewidth=1, label="local/cloud mix (chord)")
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
                markeredgewidth=1.5, label=method)
    ax.set_xlabel("cloud share of steps")
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
    args = parser.parse_args()
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
