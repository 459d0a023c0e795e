set terminal pngcairo size 1400,1040 font "sans,10"
set output "./loop.png"
set multiplot layout 2,1
set key outside right
set grid
set xlabel "seconds since start (repetition 1)"
set ylabel "GB/s, all writers (1 s bins)"
set title "loop-around, native: throughput over time; triangles = writer 0 starts lap 2, 3..."
plot "./loop-timeline-native.dat" index 0 using 1:2 with lines lw 2 dt 1 lc rgb "#000000" title "naive", \
     "./loop-wraps-native.dat" index 0 using 1:2 with points pt 9 ps 1.5 lc rgb "#000000" notitle, \
     "./loop-timeline-native.dat" index 1 using 1:2 with lines lw 2 dt 2 lc rgb "#777777" title "naive-nora", \
     "./loop-wraps-native.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle, \
     "./loop-timeline-native.dat" index 2 using 1:2 with lines lw 2 dt 1 lc rgb "#1f77b4" title "pwrite", \
     "./loop-wraps-native.dat" index 2 using 1:2 with points pt 9 ps 1.5 lc rgb "#1f77b4" notitle, \
     "./loop-timeline-native.dat" index 3 using 1:2 with lines lw 2 dt 2 lc rgb "#6baed6" title "pwrite-nora", \
     "./loop-wraps-native.dat" index 3 using 1:2 with points pt 9 ps 1.5 lc rgb "#6baed6" notitle, \
     "./loop-timeline-native.dat" index 4 using 1:2 with lines lw 2 dt 1 lc rgb "#8c564b" title "odirect", \
     "./loop-wraps-native.dat" index 4 using 1:2 with points pt 9 ps 1.5 lc rgb "#8c564b" notitle, \
     "./loop-timeline-native.dat" index 5 using 1:2 with lines lw 2 dt 1 lc rgb "#ff7f0e" title "mring-nothread", \
     "./loop-wraps-native.dat" index 5 using 1:2 with points pt 9 ps 1.5 lc rgb "#ff7f0e" notitle, \
     "./loop-timeline-native.dat" index 6 using 1:2 with lines lw 2 dt 1 lc rgb "#bcbd22" title "mring-none", \
     "./loop-wraps-native.dat" index 6 using 1:2 with points pt 9 ps 1.5 lc rgb "#bcbd22" notitle, \
     "./loop-timeline-native.dat" index 7 using 1:2 with lines lw 2 dt 1 lc rgb "#9467bd" title "mring-cache", \
     "./loop-wraps-native.dat" index 7 using 1:2 with points pt 9 ps 1.5 lc rgb "#9467bd" notitle, \
     "./loop-timeline-native.dat" index 8 using 1:2 with lines lw 2 dt 1 lc rgb "#2ca02c" title "mring-zero", \
     "./loop-wraps-native.dat" index 8 using 1:2 with points pt 9 ps 1.5 lc rgb "#2ca02c" notitle, \
     "./loop-timeline-native.dat" index 9 using 1:2 with lines lw 2 dt 1 lc rgb "#17becf" title "mring-punch", \
     "./loop-wraps-native.dat" index 9 using 1:2 with points pt 9 ps 1.5 lc rgb "#17becf" notitle, \
     "./loop-timeline-native.dat" index 10 using 1:2 with lines lw 2 dt 1 lc rgb "#d62728" title "mring-uring", \
     "./loop-wraps-native.dat" index 10 using 1:2 with points pt 9 ps 1.5 lc rgb "#d62728" notitle, \
     "./loop-timeline-native.dat" index 11 using 1:2 with lines lw 2 dt 1 lc rgb "#e377c2" title "mring-nohuge", \
     "./loop-wraps-native.dat" index 11 using 1:2 with points pt 9 ps 1.5 lc rgb "#e377c2" notitle, \
     "./loop-timeline-native.dat" index 12 using 1:2 with lines lw 2 dt 1 lc rgb "#8b0000" title "mring", \
     "./loop-wraps-native.dat" index 12 using 1:2 with points pt 9 ps 1.5 lc rgb "#8b0000" notitle
set title "loop-around, slow: throughput over time; triangles = writer 0 starts lap 2, 3..."
plot "./loop-timeline-slow.dat" index 0 using 1:2 with lines lw 2 dt 1 lc rgb "#000000" title "naive", \
     "./loop-wraps-slow.dat" index 0 using 1:2 with points pt 9 ps 1.5 lc rgb "#000000" notitle, \
     "./loop-timeline-slow.dat" index 1 using 1:2 with lines lw 2 dt 2 lc rgb "#777777" title "naive-nora", \
     "./loop-wraps-slow.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle, \
     "./loop-timeline-slow.dat" index 2 using 1:2 with lines lw 2 dt 1 lc rgb "#1f77b4" title "pwrite", \
     "./loop-wraps-slow.dat" index 2 using 1:2 with points pt 9 ps 1.5 lc rgb "#1f77b4" notitle, \
     "./loop-timeline-slow.dat" index 3 using 1:2 with lines lw 2 dt 2 lc rgb "#6baed6" title "pwrite-nora", \
     "./loop-wraps-slow.dat" index 3 using 1:2 with points pt 9 ps 1.5 lc rgb "#6baed6" notitle, \
     "./loop-timeline-slow.dat" index 4 using 1:2 with lines lw 2 dt 1 lc rgb "#8c564b" title "odirect", \
     "./loop-wraps-slow.dat" index 4 using 1:2 with points pt 9 ps 1.5 lc rgb "#8c564b" notitle, \
     "./loop-timeline-slow.dat" index 5 using 1:2 with lines lw 2 dt 1 lc rgb "#ff7f0e" title "mring-nothread", \
     "./loop-wraps-slow.dat" index 5 using 1:2 with points pt 9 ps 1.5 lc rgb "#ff7f0e" notitle, \
     "./loop-timeline-slow.dat" index 6 using 1:2 with lines lw 2 dt 1 lc rgb "#bcbd22" title "mring-none", \
     "./loop-wraps-slow.dat" index 6 using 1:2 with points pt 9 ps 1.5 lc rgb "#bcbd22" notitle, \
     "./loop-timeline-slow.dat" index 7 using 1:2 with lines lw 2 dt 1 lc rgb "#9467bd" title "mring-cache", \
     "./loop-wraps-slow.dat" index 7 using 1:2 with points pt 9 ps 1.5 lc rgb "#9467bd" notitle, \
     "./loop-timeline-slow.dat" index 8 using 1:2 with lines lw 2 dt 1 lc rgb "#2ca02c" title "mring-zero", \
     "./loop-wraps-slow.dat" index 8 using 1:2 with points pt 9 ps 1.5 lc rgb "#2ca02c" notitle, \
     "./loop-timeline-slow.dat" index 9 using 1:2 with lines lw 2 dt 1 lc rgb "#17becf" title "mring-punch", \
     "./loop-wraps-slow.dat" index 9 using 1:2 with points pt 9 ps 1.5 lc rgb "#17becf" notitle, \
     "./loop-timeline-slow.dat" index 10 using 1:2 with lines lw 2 dt 1 lc rgb "#d62728" title "mring-uring", \
     "./loop-wraps-slow.dat" index 10 using 1:2 with points pt 9 ps 1.5 lc rgb "#d62728" notitle, \
     "./loop-timeline-slow.dat" index 11 using 1:2 with lines lw 2 dt 1 lc rgb "#e377c2" title "mring-nohuge", \
     "./loop-wraps-slow.dat" index 11 using 1:2 with points pt 9 ps 1.5 lc rgb "#e377c2" notitle, \
     "./loop-timeline-slow.dat" index 12 using 1:2 with lines lw 2 dt 1 lc rgb "#8b0000" title "mring", \
     "./loop-wraps-slow.dat" index 12 using 1:2 with points pt 9 ps 1.5 lc rgb "#8b0000" notitle
unset multiplot
