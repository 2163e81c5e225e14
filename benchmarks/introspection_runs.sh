#!/bin/bash
# The runs behind docs/results/introspection.json (issue 18), in order; each eval resumes when rerun.
# combined-b0.2-repair2 was made with the yes/no review that the cloud's own version of the step
# replaced (session 14); rerunning that line now gives the rewriting review, as combined-b0.2-rewrite2.
# About 1 h 45 min on 2 cores after the gold training (adaswitch learn gold runs/practice-gold), whose
# merged model must be registered as adaswitch-gold-merged (see docs/DECISIONS.md).
set -ex
L=server:adaswitch-gold-merged
C=server:qwen2.5-coder-1.5b
RUN="adaswitch eval gsm8k --workers 8 --no-progress"
TEST="--split test --offset 200 --limit 200"
$RUN --local $L --mode local --judge-steps --introspection confidence --split train --offset 1000 --limit 150 --out runs/intro/fit-train1000
$RUN --local $L --mode local --judge-steps --introspection confidence $TEST --out runs/intro/test-200
python benchmarks/introspection.py --fit runs/intro/fit-train1000 --test runs/intro/test-200 --combiner-out runs/intro/combiner.json --calibration-out runs/intro/calibration > runs/intro/signals.txt
$RUN --local $L --cloud $C --mode cloud $TEST --out runs/intro/cloud-200
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro/combiner.json --calibration runs/intro/calibration/combined.json --cloud-budget 0.2 $TEST --out runs/intro/combined-b0.2
RATE=$(python benchmarks/cloud_share.py runs/intro/combined-b0.2)
echo "combined share of cloud steps: $RATE"
$RUN --local $L --cloud $C --mode random --switch-rate $RATE $TEST --out runs/intro/random-matched
$RUN --local $L --cloud $C --mode adaswitch --introspection position --calibration runs/intro/calibration/position.json --cloud-budget 0.2 $TEST --out runs/intro/position-b0.2
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro/combiner.json --calibration runs/intro/calibration/combined.json --cloud-budget 0.2 --repair-back 2 $TEST --out runs/intro/combined-b0.2-repair2
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro/combiner.json --calibration runs/intro/calibration/combined.json --cloud-budget 0.2 --repair-back 2 $TEST --out runs/intro/combined-b0.2-rewrite2
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro/combiner.json --calibration runs/intro/calibration/combined.json --cloud-budget 0.3 $TEST --out runs/intro/combined-b0.3
RATE3=$(python benchmarks/cloud_share.py runs/intro/combined-b0.3)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE3 $TEST --out runs/intro/random-matched-b0.3
python benchmarks/introspection.py --fit runs/intro/fit-train1000 --test runs/intro/test-200 --curve adaswitch-combined=runs/intro/combined-b0.2 --curve adaswitch-combined=runs/intro/combined-b0.3 --curve adaswitch-combined-repair2=runs/intro/combined-b0.2-repair2 --curve adaswitch-combined-rewrite2=runs/intro/combined-b0.2-rewrite2 --curve random=runs/intro/random-matched --curve random=runs/intro/random-matched-b0.3 --curve position=runs/intro/position-b0.2 --local runs/intro/test-200 --cloud runs/intro/cloud-200 --combiner-out docs/results/introspection/combiner-gsm8k.json --calibration-out docs/results/introspection
python benchmarks/plot_curves.py
