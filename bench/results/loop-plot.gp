set terminal pngcairo size 1400,1040 font "sans,10"
set output "/work/main/bench/results/loop.png"
set multiplot layout 2,1
set key outside right
set grid
set xlabel "seconds since start (repetition 1)"
set ylabel "GB/s, all writers (1 s bins)"
set title "loop-around, native: throughput over time; triangles = writer 0 starts lap 2, 3..."
plot "/work/main/bench/results/loop-timeline-native.dat" index 0 using 1:2 with lines lw 2 dt 1 lc rgb "#000000" title "naive", \
     "/work/main/bench/results/loop-wraps-native.dat" index 0 using 1:2 with points pt 9 ps 1.5 lc rgb "#000000" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 1 using 1:2 with lines lw 2 dt 2 lc rgb "#777777" title "naive-nora", \
     "/work/main/bench/results/loop-wraps-native.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 2 using 1:2 with lines lw 2 dt 1 lc rgb "#1f77b4" title "pwrite", \
     "/work/main/bench/results/loop-wraps-native.dat" index 2 using 1:2 with points pt 9 ps 1.5 lc rgb "#1f77b4" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 3 using 1:2 with lines lw 2 dt 2 lc rgb "#6baed6" title "pwrite-nora", \
     "/work/main/bench/results/loop-wraps-native.dat" index 3 using 1:2 with points pt 9 ps 1.5 lc rgb "#6baed6" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 4 using 1:2 with lines lw 2 dt 1 lc rgb "#8c564b" title "odirect", \
     "/work/main/bench/results/loop-wraps-native.dat" index 4 using 1:2 with points pt 9 ps 1.5 lc rgb "#8c564b" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 5 using 1:2 with lines lw 2 dt 1 lc rgb "#ff7f0e" title "mring-nothread", \
     "/work/main/bench/results/loop-wraps-native.dat" index 5 using 1:2 with points pt 9 ps 1.5 lc rgb "#ff7f0e" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 6 using 1:2 with lines lw 2 dt 1 lc rgb "#bcbd22" title "mring-none", \
     "/work/main/bench/results/loop-wraps-native.dat" index 6 using 1:2 with points pt 9 ps 1.5 lc rgb "#bcbd22" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 7 using 1:2 with lines lw 2 dt 1 lc rgb "#9467bd" title "mring-cache", \
     "/work/main/bench/results/loop-wraps-native.dat" index 7 using 1:2 with points pt 9 ps 1.5 lc rgb "#9467bd" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 8 using 1:2 with lines lw 2 dt 1 lc rgb "#2ca02c" title "mring-zero", \
     "/work/main/bench/results/loop-wraps-native.dat" index 8 using 1:2 with points pt 9 ps 1.5 lc rgb "#2ca02c" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 9 using 1:2 with lines lw 2 dt 1 lc rgb "#17becf" title "mring-punch", \
     "/work/main/bench/results/loop-wraps-native.dat" index 9 using 1:2 with points pt 9 ps 1.5 lc rgb "#17becf" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 10 using 1:2 with lines lw 2 dt 1 lc rgb "#d62728" title "mring-uring", \
     "/work/main/bench/results/loop-wraps-native.dat" index 10 using 1:2 with points pt 9 ps 1.5 lc rgb "#d62728" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 11 using 1:2 with lines lw 2 dt 1 lc rgb "#e377c2" title "mring-nohuge", \
     "/work/main/bench/results/loop-wraps-native.dat" index 11 using 1:2 with points pt 9 ps 1.5 lc rgb "#e377c2" notitle, \
     "/work/main/bench/results/loop-timeline-native.dat" index 12 using 1:2 with lines lw 2 dt 1 lc rgb "#8b0000" title "mring", \
     "/work/main/bench/results/loop-wraps-native.dat" index 12 using 1:2 with points pt 9 ps 1.5 lc rgb "#8b0000" notitle
set title "loop-around, slow: throughput over time; triangles = writer 0 starts lap 2, 3..."
plot "/work/main/bench/results/loop-timeline-slow.dat" index 0 using 1:2 with lines lw 2 dt 1 lc rgb "#000000" title "naive", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 0 using 1:2 with points pt 9 ps 1.5 lc rgb "#000000" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 1 using 1:2 with lines lw 2 dt 2 lc rgb "#777777" title "naive-nora", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 2 using 1:2 with lines lw 2 dt 1 lc rgb "#1f77b4" title "pwrite", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 2 using 1:2 with points pt 9 ps 1.5 lc rgb "#1f77b4" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 3 using 1:2 with lines lw 2 dt 2 lc rgb "#6baed6" title "pwrite-nora", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 3 using 1:2 with points pt 9 ps 1.5 lc rgb "#6baed6" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 4 using 1:2 with lines lw 2 dt 1 lc rgb "#8c564b" title "odirect", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 4 using 1:2 with points pt 9 ps 1.5 lc rgb "#8c564b" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 5 using 1:2 with lines lw 2 dt 1 lc rgb "#ff7f0e" title "mring-nothread", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 5 using 1:2 with points pt 9 ps 1.5 lc rgb "#ff7f0e" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 6 using 1:2 with lines lw 2 dt 1 lc rgb "#bcbd22" title "mring-none", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 6 using 1:2 with points pt 9 ps 1.5 lc rgb "#bcbd22" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 7 using 1:2 with lines lw 2 dt 1 lc rgb "#9467bd" title "mring-cache", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 7 using 1:2 with points pt 9 ps 1.5 lc rgb "#9467bd" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 8 using 1:2 with lines lw 2 dt 1 lc rgb "#2ca02c" title "mring-zero", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 8 using 1:2 with points pt 9 ps 1.5 lc rgb "#2ca02c" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 9 using 1:2 with lines lw 2 dt 1 lc rgb "#17becf" title "mring-punch", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 9 using 1:2 with points pt 9 ps 1.5 lc rgb "#17becf" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 10 using 1:2 with lines lw 2 dt 1 lc rgb "#d62728" title "mring-uring", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 10 using 1:2 with points pt 9 ps 1.5 lc rgb "#d62728" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 11 using 1:2 with lines lw 2 dt 1 lc rgb "#e377c2" title "mring-nohuge", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 11 using 1:2 with points pt 9 ps 1.5 lc rgb "#e377c2" notitle, \
     "/work/main/bench/results/loop-timeline-slow.dat" index 12 using 1:2 with lines lw 2 dt 1 lc rgb "#8b0000" title "mring", \
     "/work/main/bench/results/loop-wraps-slow.dat" index 12 using 1:2 with points pt 9 ps 1.5 lc rgb "#8b0000" notitle
unset multiplot
