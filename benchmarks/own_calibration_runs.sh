#!/bin/bash
# The budget calibrated on a benchmark's own unlabelled questions (issue 18; docs/DECISIONS.md, "A budget
# calibrated on the deployment's own unlabelled questions"): a judged local run on questions kept
# apart from the test slice (no answers used), `adaswitch calibrate` on it, then AdaSwitch at
# --cloud-budget 0.2 on the test slice (the first 200) with that calibration. The combiner stays the
# GSM8K-fitted one (runs/intro-para/combiner.json, the file the package ships). Each eval resumes.
# Usage: bash benchmarks/own_calibration_runs.sh [svamp:800 asdiv:2000 ...]   (BENCHMARK:FIRST_QUESTION)
set -ex
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
COMBINED="--introspection combined --probe runs/intro-para/combiner.json"
[ $# -gt 0 ] || set -- svamp:800 asdiv:2000
for spec in "$@"; do
  B=${spec%%:*}; OFF=${spec##*:}; W=runs/intro-$B
  RUN="adaswitch eval $B --workers 8 --no-progress --step-format paragraphs"
  $RUN --local $L --mode local --judge-steps $COMBINED --offset $OFF --limit 200 --out $W/calibration-slice
  adaswitch calibrate $W/calibration-slice --out $W/calibration-combined.json
  $RUN --local $L --cloud $C --mode adaswitch $COMBINED --calibration $W/calibration-combined.json \
    --cloud-budget 0.2 --limit 200 --out $W/combined-b0.2-own-calibration
done
