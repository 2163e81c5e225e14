#!/bin/bash
# The paragraph-format runs behind docs/results/introspection.json's gsm8k.paragraphs entry (issue 18),
# in order; each eval resumes when rerun. The base 0.5B as local agent (practice in paragraphs gave it
# nothing, docs/DECISIONS.md), the 1.5B as cloud, both behind llama.cpp's server. About 2 h 15 min on
# 2 cores up to the budget-0.2 pair (the cloud run 60 min, the judged local runs 12 and 18 min, AdaSwitch 25 min,
# random 32 min), then about 30 min per further run (session 19: random at b0.3's rate 46 min, b0.1 25 min,
# self-reflection 14 min, random at b0.1's rate about 40 min).
# With CODE=1 every run has --run-code (the python a paragraph writes is run) and goes under
# runs/intro-para-code instead of runs/intro-para (session 17; its figures go to
# docs/results/introspection.json's gsm8k.paragraphs_code entry, see --within below).
set -ex
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/intro-para
RUN="adaswitch eval gsm8k --workers 8 --no-progress --step-format paragraphs"
WITHIN=paragraphs
OUT=docs/results/introspection/paragraphs
if [ "${CODE:-0}" = 1 ]; then
  W=runs/intro-para-code RUN="$RUN --run-code" WITHIN=paragraphs_code OUT=docs/results/introspection/paragraphs_code
fi
TEST="--split test --offset 200 --limit 200"
$RUN --local $L --cloud $C --mode cloud $TEST --out $W/cloud-200
$RUN --local $L --mode local --judge-steps --introspection confidence --split train --offset 1000 --limit 150 --out $W/fit-train1000
$RUN --local $L --mode local --judge-steps --introspection confidence $TEST --out $W/test-200
python benchmarks/introspection.py --fit $W/fit-train1000 --test $W/test-200 --combiner-out $W/combiner.json --calibration-out $W/calibration --out $W/introspection.json
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $W/combiner.json --calibration $W/calibration/combined.json --cloud-budget 0.2 $TEST --out $W/combined-b0.2
RATE=$(python benchmarks/cloud_share.py $W/combined-b0.2)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE $TEST --out $W/random-matched
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $W/combiner.json --calibration $W/calibration/combined.json --cloud-budget 0.3 $TEST --out $W/combined-b0.3
RATE3=$(python benchmarks/cloud_share.py $W/combined-b0.3)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE3 $TEST --out $W/random-matched-b0.3
$RUN --local $L --cloud $C --mode adaswitch --introspection position --calibration $W/calibration/position.json --cloud-budget 0.2 $TEST --out $W/position-b0.2
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $W/combiner.json --calibration $W/calibration/combined.json --cloud-budget 0.1 $TEST --out $W/combined-b0.1
RATE1=$(python benchmarks/cloud_share.py $W/combined-b0.1)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE1 $TEST --out $W/random-matched-b0.1
$RUN --local $L --cloud $C --mode self-reflection --introspection combined --probe $W/combiner.json --calibration $W/calibration/combined.json --cloud-budget 0.2 $TEST --out $W/self-reflection-b0.2
python benchmarks/introspection.py --within $WITHIN --fit $W/fit-train1000 --test $W/test-200 --curve adaswitch-combined=$W/combined-b0.1 --curve adaswitch-combined=$W/combined-b0.2 --curve adaswitch-combined=$W/combined-b0.3 --curve random=$W/random-matched-b0.1 --curve random=$W/random-matched --curve random=$W/random-matched-b0.3 --curve position=$W/position-b0.2 --curve self-reflection=$W/self-reflection-b0.2 --local $W/test-200 --cloud $W/cloud-200 --combiner-out $OUT/combiner-gsm8k.json --calibration-out $OUT
# Session 21: the combiner fitted on 500 GSM8K train questions (1000-1149 above plus 1150-1499, 28 min),
# its calibration, AdaSwitch at budget 0.2 with it (budgets 0.1 and 0.3: session 22 below), and the
# published gsm8k.paragraphs entry: the signals scored with the 500-question combiner, the curves of
# the 150-question one's runs above plus the new run as adaswitch-combined-500q. The package shipped
# the 150-question files until session 22 (the headline's runs used them). Not for CODE=1.
[ "${CODE:-0}" = 1 ] && exit 0
P=$W/pooled
$RUN --local $L --mode local --judge-steps --introspection confidence --split train --offset 1150 --limit 350 --out $W/fit-train1150
python benchmarks/introspection.py --fit $W/fit-train1000 --fit $W/fit-train1150 --test $W/test-200 --combiner-out $P/combiner.json --calibration-out $P/calibration --out $P/introspection.json
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $P/combiner.json --calibration $P/calibration/combined.json --cloud-budget 0.2 $TEST --out $P/combined-b0.2
python benchmarks/introspection.py --within $WITHIN --fit $W/fit-train1000 --fit $W/fit-train1150 --test $W/test-200 --curve adaswitch-combined=$W/combined-b0.1 --curve adaswitch-combined=$W/combined-b0.2 --curve adaswitch-combined=$W/combined-b0.3 --curve adaswitch-combined-500q=$P/combined-b0.2 --curve random=$W/random-matched-b0.1 --curve random=$W/random-matched --curve random=$W/random-matched-b0.3 --curve position=$W/position-b0.2 --curve self-reflection=$W/self-reflection-b0.2 --local $W/test-200 --cloud $W/cloud-200 --combiner-out $OUT/combiner-gsm8k.json --calibration-out $OUT
# Session 22: the 500-question combiner at budgets 0.3 and 0.1 (about 25 min each), then the
# gsm8k.paragraphs entry with its three budgets as the adaswitch-combined-500q curve.
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $P/combiner.json --calibration $P/calibration/combined.json --cloud-budget 0.3 $TEST --out $P/combined-b0.3
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $P/combiner.json --calibration $P/calibration/combined.json --cloud-budget 0.1 $TEST --out $P/combined-b0.1
python benchmarks/introspection.py --within $WITHIN --fit $W/fit-train1000 --fit $W/fit-train1150 --test $W/test-200 --curve adaswitch-combined=$W/combined-b0.1 --curve adaswitch-combined=$W/combined-b0.2 --curve adaswitch-combined=$W/combined-b0.3 --curve adaswitch-combined-500q=$P/combined-b0.1 --curve adaswitch-combined-500q=$P/combined-b0.2 --curve adaswitch-combined-500q=$P/combined-b0.3 --curve random=$W/random-matched-b0.1 --curve random=$W/random-matched --curve random=$W/random-matched-b0.3 --curve position=$W/position-b0.2 --curve self-reflection=$W/self-reflection-b0.2 --local $W/test-200 --cloud $W/cloud-200 --combiner-out $OUT/combiner-gsm8k.json --calibration-out $OUT
