set terminal pngcairo size 1400,480 font "sans,10"
set output "bench/results/issue12/final-1205/one-writer/loop.png"
set multiplot layout 1,1
set key outside right
set grid
unset logscale
set xlabel "seconds since start (repetition 1)"
set ylabel "GB/s, all writers (1 s bins)"
set title "loop-around, native: naive mmap, pwrite, odirect (O\\_DIRECT) and mring; triangles = writer 0 starts lap 2, 3..."
plot "bench/results/issue12/final-1205/one-writer/loop-timeline-native.dat" index 0 using 1:2 with lines lw 2 dt 1 lc rgb "#000000" title "pwrite", \
     "bench/results/issue12/final-1205/one-writer/loop-wraps-native.dat" index 0 using 1:2 with points pt 9 ps 1.5 lc rgb "#000000" notitle, \
     "bench/results/issue12/final-1205/one-writer/loop-timeline-native.dat" index 1 using 1:2 with lines lw 2 dt 1 lc rgb "#777777" title "mring", \
     "bench/results/issue12/final-1205/one-writer/loop-wraps-native.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle
unset multiplot
set terminal pngcairo size 1400,480 font "sans,10"
set output "bench/results/issue12/final-1205/one-writer/loop-knobs.png"
set multiplot layout 1,1
set key outside right
set grid
unset logscale
set xlabel "seconds since start (repetition 1)"
set ylabel "GB/s, all writers (1 s bins)"
set title "loop-around, native: mring's variants (mring = the defaults); triangles = writer 0 starts lap 2, 3..."
plot "bench/results/issue12/final-1205/one-writer/loop-timeline-native.dat" index 1 using 1:2 with lines lw 2 dt 1 lc rgb "#777777" title "mring", \
     "bench/results/issue12/final-1205/one-writer/loop-wraps-native.dat" index 1 using 1:2 with points pt 9 ps 1.5 lc rgb "#777777" notitle
unset multiplot
set terminal pngcairo size 1400,480 font "sans,10"
set output "bench/results/issue12/final-1205/one-writer/loop-latency.png"
set multiplot layout 1,1
set key outside right
set grid
set logscale xy
set format y "%g"
set xlabel "chunk latency, us (log)"
set ylabel "fraction of chunks slower (log)"
set title "loop-around, native: chunk latency tail, all writers and repetitions; solid = laps 2 and later, dashed = lap 1"
plot "bench/results/issue12/final-1205/one-writer/loop-latency-native.dat" index 0 using 1:2 with steps lw 2 dt 1 lc rgb "#000000" title "pwrite", \
     "bench/results/issue12/final-1205/one-writer/loop-latency-native.dat" index 1 using 1:2 with steps lw 2 dt 2 lc rgb "#000000" notitle, \
     "bench/results/issue12/final-1205/one-writer/loop-latency-native.dat" index 2 using 1:2 with steps lw 2 dt 1 lc rgb "#777777" title "mring", \
     "bench/results/issue12/final-1205/one-writer/loop-latency-native.dat" index 3 using 1:2 with steps lw 2 dt 2 lc rgb "#777777" notitle
unset multiplot
