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
# benchmarks/own_calibration_runs.sh does: the shipped GSM8K calibration put 0.67 of StrategyQA's
# steps on the cloud when asked for 0.2 (that run, combined-b0.2, and its random pair are kept as a
# fourth AdaSwitch point). Position keeps the shipped calibration. Each eval resumes, so the script can
# be rerun after a stop. StrategyQA took about 75 minutes on 2 cores (session 23).
# Usage: BENCH=strategyqa [LIMIT=100] [CAL="--split train --limit 200"] bash benchmarks/headline_runs_paragraphs.sh
set -ex
BENCH=${BENCH:?set BENCH to math500, hotpotqa, 2wiki or strategyqa}
LIMIT=${LIMIT:-100}
CAL=${CAL:---split train --limit 200}
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/headline-$BENCH
RUN="adaswitch eval $BENCH --workers 8 --no-progress --step-format paragraphs"
TEST="--limit $LIMIT"
BOTH="--local $L --cloud $C"
$RUN $TEST --local $L --mode local --introspection confidence --out $W/local
$RUN $TEST --local $C --mode local --out $W/cloud
$RUN $TEST $BOTH --mode adaswitch --introspection combined --cloud-budget 0.2 --out $W/combined-b0.2
RATE=$(python benchmarks/cloud_share.py $W/combined-b0.2)
$RUN $TEST $BOTH --mode random --switch-rate $RATE --out $W/random-b0.2
$RUN $CAL --local $L --mode local --judge-steps --introspection combined --out $W/calibration-slice-train
adaswitch calibrate $W/calibration-slice-train --out $W/calibration-combined.json
OWN="--introspection combined --calibration $W/calibration-combined.json"
for B in 0.2 0.1 0.3; do
  $RUN $TEST $BOTH --mode adaswitch $OWN --cloud-budget $B --out $W/combined-own-b$B
  RATE=$(python benchmarks/cloud_share.py $W/combined-own-b$B)
  $RUN $TEST $BOTH --mode random --switch-rate $RATE --out $W/random-own-b$B
done
$RUN $TEST $BOTH --mode self-reflection $OWN --cloud-budget 0.2 --out $W/self-reflection-own-b0.2
$RUN $TEST $BOTH --mode adaswitch --introspection position --cloud-budget 0.2 --out $W/position-b0.2
