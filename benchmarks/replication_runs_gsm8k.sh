#!/bin/bash
# The replication decided before it was run (docs/DECISIONS.md, "How many questions a comparison
# needs", issue 18): AdaSwitch at budget 0.2 against random switching at its measured rate on a second
# held-out GSM8K slice, test questions 400-599, with the combiner and budget calibration the package
# ships for the 0.5B (the 500-question ones; nothing is fitted or chosen on 400-599), plus the random
# pair that the first slice's run of the same combiner (runs/intro-para/pooled/combined-b0.2, test
# 200-399, 22.2% of the steps) still lacks. Most informative first, so a stopped sitting leaves a
# usable comparison; each eval resumes when the script is rerun. Then
# `python benchmarks/replication.py` scores each slice and the pooled 400 questions.
# About 3 h on 2 cores: AdaSwitch about 25 min, each random run about 32 min, the judged local run
# about 18 min, the cloud alone about 60 min (session 19's times on 200-399).
set -ex
HERE=$(dirname "$0")
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/replication-gsm8k
RUN="adaswitch eval gsm8k --workers 8 --no-progress --step-format paragraphs --split test"
NEW="--offset 400 --limit 200"
FIRST="--offset 200 --limit 200"
BOTH="--local $L --cloud $C"
# a fresh checkout has no runs/: the committed records (this replication's too, once committed)
bash "$HERE/../scripts/restore_runs.sh" > /dev/null
$RUN $NEW $BOTH --mode adaswitch --introspection combined --cloud-budget 0.2 --out $W/combined-b0.2
RATE=$(python "$HERE/cloud_share.py" $W/combined-b0.2)
$RUN $NEW $BOTH --mode random --switch-rate $RATE --out $W/random-b0.2
FIRST_RATE=$(python "$HERE/cloud_share.py" runs/intro-para/pooled/combined-b0.2)
$RUN $FIRST $BOTH --mode random --switch-rate $FIRST_RATE --out $W/first-slice-random-b0.2
$RUN $NEW --local $L --mode local --judge-steps --introspection confidence --out $W/local
$RUN $NEW $BOTH --mode cloud --out $W/cloud
