#!/bin/bash
# The paragraph-format runs behind docs/results/introspection.json's gsm8k.paragraphs entry (issue 18),
# in order; each eval resumes when rerun. The base 0.5B as local agent (practice in paragraphs gave it
# nothing, docs/DECISIONS.md), the 1.5B as cloud, both behind llama.cpp's server. About 2 h 15 min on
# 2 cores up to the budget-0.2 pair (the cloud run 60 min, the judged local runs 12 and 18 min, AdaSwitch 25 min,
# random 32 min), then about 30 min per further run.
set -ex
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
RUN="adaswitch eval gsm8k --workers 8 --no-progress --step-format paragraphs"
TEST="--split test --offset 200 --limit 200"
$RUN --local $L --cloud $C --mode cloud $TEST --out runs/intro-para/cloud-200
$RUN --local $L --mode local --judge-steps --introspection confidence --split train --offset 1000 --limit 150 --out runs/intro-para/fit-train1000
$RUN --local $L --mode local --judge-steps --introspection confidence $TEST --out runs/intro-para/test-200
python benchmarks/introspection.py --fit runs/intro-para/fit-train1000 --test runs/intro-para/test-200 --combiner-out runs/intro-para/combiner.json --calibration-out runs/intro-para/calibration --out runs/intro-para/introspection.json
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro-para/combiner.json --calibration runs/intro-para/calibration/combined.json --cloud-budget 0.2 $TEST --out runs/intro-para/combined-b0.2
RATE=$(python benchmarks/cloud_share.py runs/intro-para/combined-b0.2)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE $TEST --out runs/intro-para/random-matched
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro-para/combiner.json --calibration runs/intro-para/calibration/combined.json --cloud-budget 0.3 $TEST --out runs/intro-para/combined-b0.3
RATE3=$(python benchmarks/cloud_share.py runs/intro-para/combined-b0.3)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE3 $TEST --out runs/intro-para/random-matched-b0.3
$RUN --local $L --cloud $C --mode adaswitch --introspection position --calibration runs/intro-para/calibration/position.json --cloud-budget 0.2 $TEST --out runs/intro-para/position-b0.2
$RUN --local $L --cloud $C --mode adaswitch --introspection combined --probe runs/intro-para/combiner.json --calibration runs/intro-para/calibration/combined.json --cloud-budget 0.1 $TEST --out runs/intro-para/combined-b0.1
RATE1=$(python benchmarks/cloud_share.py runs/intro-para/combined-b0.1)
$RUN --local $L --cloud $C --mode random --switch-rate $RATE1 $TEST --out runs/intro-para/random-matched-b0.1
python benchmarks/introspection.py --within paragraphs --fit runs/intro-para/fit-train1000 --test runs/intro-para/test-200 --curve adaswitch-combined=runs/intro-para/combined-b0.1 --curve adaswitch-combined=runs/intro-para/combined-b0.2 --curve adaswitch-combined=runs/intro-para/combined-b0.3 --curve random=runs/intro-para/random-matched-b0.1 --curve random=runs/intro-para/random-matched --curve random=runs/intro-para/random-matched-b0.3 --curve position=runs/intro-para/position-b0.2 --local runs/intro-para/test-200 --cloud runs/intro-para/cloud-200 --combiner-out docs/results/introspection/paragraphs/combiner-gsm8k.json --calibration-out docs/results/introspection/paragraphs
