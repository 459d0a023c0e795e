#!/bin/bash
# First touch on this VM: dd into a fresh file vs the demo's lap 1, same state (after drop_caches).
set -u
demo=/tmp/b-bench/examples/loop_demo
echo "# $(date -u +%FT%TZ) page_reporting_order=$(cat /sys/module/page_reporting/parameters/page_reporting_order) commit=$(git -C /work/main rev-parse --short HEAD)"
for i in 1 2 3; do
  for what in dd demo; do
    rm -f /tmp/ftx; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 3
    if [ $what = dd ]; then
      a=$(dd if=/dev/zero of=/tmp/ftx bs=1M count=1024 conv=notrunc 2>&1 | tail -1 | awk '{print $(NF-1), $NF}')
      rm -f /tmp/ftx
      b=$(dd if=/dev/zero of=/tmp/ftx bs=1M count=1024 2>&1 | tail -1 | awk '{print $(NF-1), $NF}')
      rm -f /tmp/ftx
      echo "round $i dd fresh file: cold $a, again at once $b"
    else
      echo "round $i demo: $($demo --laps 2 2>&1 | grep '^producer lap' | sed 's/.*lap \([0-9]\)\/2: .* in \(.*\), \(.*\)/lap \1 \2 \3/' | paste -sd';')"
    fi
  done
done
