#!/bin/bash
# Transfer (issues 17 and 18): the GSM8K paragraph comparison on another math benchmark's first 200
# questions (BENCH=svamp or asdiv), with the combiner and calibration fitted on GSM8K train 1000-1149
# (benchmarks/introspection_runs_paragraphs.sh makes them; the package ships the same files) and
# nothing fitted or chosen on BENCH. With CODE=1 every run has --run-code and the GSM8K files are
# those of runs/intro-para-code. The cloud-only side is the 1.5B's own local run (the same prompt),
# which benchmarks/introspection.py and benchmarks/headline.py read as the cloud's. Each eval resumes.
# Usage: BENCH=asdiv [POSITION=0] bash benchmarks/transfer_runs_paragraphs.sh
set -ex
BENCH=${BENCH:-svamp}
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
G=runs/intro-para
W=runs/intro-$BENCH
RUN="adaswitch eval $BENCH --workers 8 --no-progress --step-format paragraphs"
ENTRY="--keep consistency"  # the benchmark's own entry of introspection.json
if [ "${CODE:-0}" = 1 ]; then
  G=runs/intro-para-code W=runs/intro-$BENCH-code RUN="$RUN --run-code" ENTRY="--within paragraphs_code"
fi
TEST="--limit 200"
SIGNAL="--introspection combined --probe $G/combiner.json --calibration $G/calibration/combined.json"
CURVES="--curve adaswitch-combined=$W/combined-b0.2 --curve random=$W/random-matched"
$RUN --local $L --mode local --judge-steps --introspection confidence $TEST --out $W/test-200
$RUN --local $C --mode local $TEST --out $W/cloud-200
$RUN --local $L --cloud $C --mode adaswitch $SIGNAL --cloud-budget 0.2 $TEST --out $W/combined-b0.2
RATE=$(python benchmarks/cloud_share.py $W/combined-b0.2)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE $TEST --out $W/random-matched
if [ "${POSITION:-1}" = 1 ]; then
  $RUN --local $L --cloud $C --mode adaswitch --introspection position --calibration $G/calibration/position.json --cloud-budget 0.2 $TEST --out $W/position-b0.2
  CURVES="$CURVES --curve position=$W/position-b0.2"
fi
python benchmarks/introspection.py $ENTRY --fit $G/fit-train1000 --test $W/test-200 $CURVES --local $W/test-200 --cloud $W/cloud-200 --combiner-out $W/combiner-refit.json
# Session 22: the combiner fitted on 500 GSM8K train questions (runs/intro-para/pooled, which the
# package ships since then) at budgets 0.2, 0.1 and 0.3, and this benchmark's entry with both fits'
# signals and its curve adaswitch-combined-500q. Not for CODE=1.
[ "${CODE:-0}" = 1 ] && exit 0
P=$G/pooled
for B in 0.2 0.1 0.3; do
  $RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe $P/combiner.json --calibration $P/calibration/combined.json --cloud-budget $B $TEST --out $W/pooled-b$B
done
python benchmarks/introspection.py $ENTRY --fit $G/fit-train1000 --fit $G/fit-train1150 --test $W/test-200 --curve adaswitch-combined=$W/combined-b0.1 --curve adaswitch-combined=$W/combined-b0.2 --curve adaswitch-combined=$W/combined-b0.3 --curve adaswitch-combined-500q=$W/pooled-b0.1 --curve adaswitch-combined-500q=$W/pooled-b0.2 --curve adaswitch-combined-500q=$W/pooled-b0.3 --curve random=$W/random-matched-b0.1 --curve random=$W/random-matched --curve random=$W/random-matched-b0.3 --curve position=$W/position-b0.2 --curve self-reflection=$W/self-reflection-b0.2 --local $W/test-200 --cloud $W/cloud-200 --combiner-out $W/combiner-refit.json
