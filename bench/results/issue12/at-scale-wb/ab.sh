#!/bin/bash
# At scale, write-back thread (new) against before it (old), interleaved.
cd /work/main
for i in 1 2; do
  bash bench/run-loop.sh --writers 8 --file-size 4G --mem 2G --laps 3 --reps 1 --conds slow --strategies mring --max-seconds 150 --out /tmp/sab-new-$i --bin /tmp/b-bench/bench/mring-bench-loop --no-plot > /tmp/sab-new-$i.log 2>&1
  bash bench/run-loop.sh --writers 8 --file-size 4G --mem 2G --laps 3 --reps 1 --conds slow --strategies mring --max-seconds 150 --out /tmp/sab-old-$i --bin /tmp/b-old/bench/mring-bench-loop --no-plot > /tmp/sab-old-$i.log 2>&1
done
echo done > /tmp/sab.done
