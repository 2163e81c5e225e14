#!/bin/bash
# The headline's other benchmarks (issue 17): every standard method on the first LIMIT questions of
# BENCH (math500, hotpotqa, 2wiki or strategyqa; 100 by default) in the paragraph format, with the
# combiner and calibrations the package ships for the 0.5B (fitted on GSM8K train 1000-1499; nothing
# fitted or chosen on BENCH). The same methods as the GSM8K, SVAMP and ASDiv headline: local only
# (token confidence recorded, for the cascade), the 1.5B's own local run as the cloud-only run,
# AdaSwitch at budgets 0.1, 0.2 and 0.3 with random switching at each of their measured rates,
# position at budget 0.2 and self-reflection at budget 0.2; benchmarks/headline.py adds the cascade
# and the oracle from the first two. Each eval resumes, so the script can be rerun after a stop.
# Usage: BENCH=strategyqa [LIMIT=100] bash benchmarks/headline_runs_paragraphs.sh
set -ex
BENCH=${BENCH:?set BENCH to math500, hotpotqa, 2wiki or strategyqa}
LIMIT=${LIMIT:-100}
L=server:qwen2.5-coder-0.5b
C=server:qwen2.5-coder-1.5b
W=runs/headline-$BENCH
RUN="adaswitch eval $BENCH --workers 8 --no-progress --step-format paragraphs --limit $LIMIT"
BOTH="--local $L --cloud $C"
$RUN --local $L --mode local --introspection confidence --out $W/local
$RUN --local $C --mode local --out $W/cloud
for B in 0.2 0.1 0.3; do
  $RUN $BOTH --mode adaswitch --introspection combined --cloud-budget $B --out $W/combined-b$B
  RATE=$(python benchmarks/cloud_share.py $W/combined-b$B)
  $RUN $BOTH --mode random --switch-rate $RATE --out $W/random-b$B
done
$RUN $BOTH --mode adaswitch --introspection position --cloud-budget 0.2 --out $W/position-b0.2
$RUN $BOTH --mode self-reflection --introspection combined --cloud-budget 0.2 --out $W/self-reflection-b0.2
