#!/bin/bash
# The MATH-500 replication decided before it was run (docs/DECISIONS.md, "How many questions a
# comparison needs", issue 18): on MATH-500's first 100 questions AdaSwitch at budget 0.3 beat random
# switching at its rate by +10.0 [+2.0, +19.0] (one of four headline pairs of 20 whose interval
# excludes 0), so the same configuration runs on MATH-500 questions 100-299: the combiner the package
# ships, the budget calibration the headline fitted on MATH train's first 200 questions (unlabelled;
# runs/headline-math500/calibration-combined.json, restored with the other committed records),
# AdaSwitch at --cloud-budget 0.3, random switching at its measured rate, then the local agent and
# the 1.5B alone for the share of the gap recovered. Nothing is fitted or chosen on 100-299. Most
# informative first; each eval resumes when the script is rerun. Then
# `python benchmarks/replication.py --plan math500`.
# About 3 h on 2 cores (the headline's 100 questions: about 20 minutes a run).
set -ex
HERE=$(dirname "$0")
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/replication-math500
CAL=runs/headline-math500/calibration-combined.json
RUN="adaswitch eval math500 --workers 8 --no-progress --step-format paragraphs --offset 100 --limit 200"
BOTH="--local $L --cloud $C"
# a fresh checkout has no runs/: the committed records (this replication's too, once committed)
bash "$HERE/../scripts/restore_runs.sh" > /dev/null
$RUN $BOTH --mode adaswitch --introspection combined --calibration $CAL --cloud-budget 0.3 --out $W/combined-own-b0.3
RATE=$(python "$HERE/cloud_share.py" $W/combined-own-b0.3)
$RUN $BOTH --mode random --switch-rate $RATE --out $W/random-own-b0.3
$RUN --local $L --mode local --introspection confidence --out $W/local
$RUN --local $C --mode local --out $W/cloud
