"""``adaswitch data``: where the benchmark files are found (``status``) and how to get them (``fetch``)."""

from __future__ import annotations

from pathlib import Path

import click

from adaswitch.benchmarks.locations import SEARCH_ORDER

_MANIFEST = click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar="ADASWITCH_DATA_MANIFEST",
    help="A manifest JSON in the shipped format instead of the shipped one (mirrors, tests).")


@click.group(help=f"The benchmark files: where they are found and how to get them. Searched in this order: "
                  f"{SEARCH_ORDER}.")
def data() -> None:
    pass


@data.command("status")
@click.option("--verify", is_flag=True, envvar="ADASWITCH_DATA_VERIFY",
              help="Also check each file's sha256 (reads every file) instead of its size only.")
@_MANIFEST
def status(verify: bool, manifest: Path | None) -> None:
    """For each benchmark file, the directory it is read from (or 'missing') and whether it matches
    the manifest. Always exits 0."""
    from adaswitch.benchmarks.locations import data_search_path, existing_dirs
    from adaswitch.benchmarks.sources import load_manifest
    from adaswitch.benchmarks.status import file_statuses

    searched = data_search_path()
    for i, path in enumerate(searched, 1):
        click.echo(f"search {i}: {path}{'' if path.is_dir() else '  (does not exist)'}")
    statuses = file_statuses(load_manifest(manifest), existing_dirs(searched), verify)
    rows = [("FILE", "KIND", "STATE", "DIRECTORY")]
    rows += [(s.file.path, "derived" if s.file.derived else "upstream", s.state,
              str(s.directory) if s.directory else "-") for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    missing = [s.file.path for s in statuses if s.state == "missing"]
    if missing:
        click.echo(f"{len(missing)} of {len(statuses)} files missing: `adaswitch data fetch` downloads the upstream "
                   "ones and says where the derived ones come from.")


@data.command("fetch")
@click.option("--only", envvar="ADASWITCH_DATA_ONLY",
              help="Comma-separated benchmark names (gsm8k, svamp, ...) or file paths (gsm8k/test.jsonl).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), envvar="ADASWITCH_DATA_DIR",
              help="Where the files go: default $ADASWITCH_DATA_DIR when set, else the download cache "
                   "<cache>/data, which the loaders search last.")
@click.option("--base-url", default="https://raw.githubusercontent.com", show_default=True,
              envvar="ADASWITCH_DATA_BASE_URL", help="Replaces the GitHub raw host (a mirror, a test server).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              envvar="ADASWITCH_DATA_TIMEOUT", help="Seconds without data before a download fails.")
@_MANIFEST
def fetch(only: str | None, dest: Path | None, base_url: str, timeout: float, manifest: Path | None) -> None:
    """Download the benchmark files that are byte-identical to their upstream (GitHub, at a pinned
    commit), each verified against its sha256 before it is moved into place. Verified files already
    there are skipped; derived files are listed with where their upstream is. Exits 1 if any fails."""
    from adaswitch.benchmarks.fetch import fetch_all
    from adaswitch.benchmarks.locations import data_cache_dir
    from adaswitch.benchmarks.sources import load_manifest, select

    try:
        files = select(load_manifest(manifest), [n.strip() for n in (only or "").split(",") if n.strip()])
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    target = (dest or data_cache_dir()).expanduser()
    results = fetch_all(files, target, base_url, timeout)
    for result in results:
        click.echo(result.message, err=result.outcome == "failed")
    counts = {o: sum(r.outcome == o for r in results) for o in ("fetched", "present", "derived", "failed")}
    click.echo(f"{target}: {counts['fetched']} fetched, {counts['present']} already there, "
               f"{counts['derived']} derived (not downloadable), {counts['failed']} failed")
    if counts["failed"]:
        raise click.ClickException(f"{counts['failed']} file(s) could not be fetched")
