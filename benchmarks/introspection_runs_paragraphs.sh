#!/bin/bash
# The paragraph-format runs behind docs/results/introspection.json's gsm8k.paragraphs entry (issue 18),
# in order; each eval resumes when rerun. The base 0.5B as local agent (practice in paragraphs gave it
# nothing, docs/DECISIONS.md), the 1.5B as cloud, both behind llama.cpp's server. About 2 h 15 min on
# 2 cores (the cloud run 60 min, the judged local runs 12 and 18 min, AdaSwitch 25 min, random 20 min).
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
python benchmarks/introspection.py --within paragraphs --fit runs/intro-para/fit-train1000 --test runs/intro-para/test-200 --curve adaswitch-combined=runs/intro-para/combined-b0.2 --curve random=runs/intro-para/random-matched --local runs/intro-para/test-200 --cloud runs/intro-para/cloud-200 --combiner-out docs/results/introspection/paragraphs/combiner-gsm8k.json --calibration-out docs/results/introspection/paragraphs
