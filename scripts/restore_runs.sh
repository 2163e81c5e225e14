#!/usr/bin/env bash
# Restore the committed run records (every docs/results/**/*.tar.xz) into runs/, the directory the
# benchmarks and reports read; runs/ is not versioned, so a fresh checkout starts without it. Files
# already there are kept (a run being resumed is never overwritten).
# Usage: bash scripts/restore_runs.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
mkdir -p "$RUNS"
find docs/results -name '*.tar.xz' | sort | while read -r tarball; do
  tar -C "$RUNS" --skip-old-files -xJf "$tarball"
  echo "restored $tarball"
done
