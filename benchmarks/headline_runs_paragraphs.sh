#!/bin/bash
# The headline's other benchmarks (issue 17): every standard method on the first LIMIT questions of
# BENCH (math500, hotpotqa, 2wiki or strategyqa; 100 by default) in the paragraph format, with the
# combiner the package ships for the 0.5B (fitted on GSM8K train 1000-1499; nothing fitted on BENCH).
# The same methods as the GSM8K, SVAMP and ASDiv headline: local only (token confidence recorded, for
# the cascade), the 1.5B's own local run as the cloud-only run, AdaSwitch at budgets 0.1, 0.2 and 0.3
# with random switching at each of their measured rates, self-reflection at budget 0.2 and position
# at budget 0.2; benchmarks/headline.py adds the cascade and the oracle from the first two.
# The budgets are calibrated on 200 unlabelled questions of the benchmark kept apart from the test
# slice (CAL, by default the train split's first 200; no answers are read), as
# benchmarks/own_calibration_runs.sh does. Position keeps the shipped calibration (it reads only the
# step's index). The runs go most informative first (budget 0.2 and its baselines, then 0.1 and
# 0.3), so a sitting that stops early leaves a usable comparison. SHIPPED=1 adds AdaSwitch with the
# shipped GSM8K calibration at 0.2 and its random pair: on StrategyQA it put 0.67 of the steps on the
# cloud when asked for 0.2, on 2Wiki 0.38. Each eval resumes, so the script can be rerun after a
# stop. StrategyQA took about 75 minutes on 2 cores (session 23), 2Wiki about 2 hours (session 24;
# its prompts carry the question's paragraphs: about 1,600 tokens).
# Usage: BENCH=strategyqa [LIMIT=100] [CAL="--split train --limit 200"] [SHIPPED=1] bash benchmarks/headline_runs_paragraphs.sh
set -ex
BENCH=${BENCH:?set BENCH to math500, hotpotqa, 2wiki or strategyqa}
LIMIT=${LIMIT:-100}
CAL=${CAL:---split train --limit 200}
HERE=$(dirname "$0")
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/headline-$BENCH
RUN="adaswitch eval $BENCH --workers 8 --no-progress --step-format paragraphs"
TEST="--limit $LIMIT"
BOTH="--local $L --cloud $C"
$RUN $TEST --local $L --mode local --introspection confidence --out $W/local
$RUN $TEST --local $C --mode local --out $W/cloud
$RUN $CAL --local $L --mode local --judge-steps --introspection combined --out $W/calibration-slice-train
adaswitch calibrate $W/calibration-slice-train --out $W/calibration-combined.json
OWN="--introspection combined --calibration $W/calibration-combined.json"
switching_pair() {  # AdaSwitch at budget $1 with the given signal options, then random at its rate
  local B=$1 NAME=$2; shift 2
  $RUN $TEST $BOTH --mode adaswitch "$@" --cloud-budget $B --out $W/$NAME-b$B
  RATE=$(python "$HERE/cloud_share.py" $W/$NAME-b$B)
  $RUN $TEST $BOTH --mode random --switch-rate $RATE --out $W/random${NAME#combined}-b$B
}
switching_pair 0.2 combined-own $OWN
$RUN $TEST $BOTH --mode adaswitch --introspection position --cloud-budget 0.2 --out $W/position-b0.2
$RUN $TEST $BOTH --mode self-reflection $OWN --cloud-budget 0.2 --out $W/self-reflection-own-b0.2
switching_pair 0.1 combined-own $OWN
switching_pair 0.3 combined-own $OWN
if [ "${SHIPPED:-0}" = 1 ]; then
  switching_pair 0.2 combined --introspection combined
fi
