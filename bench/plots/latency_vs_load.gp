# Latency percentiles against offered load for paths D and G, drawn by
# bench/report.py once per placement (pinned, unpinned):
#   gnuplot -e "d_file='D.dat'; g_file='G.dat'; placement='pinned'; out='x.png'" latency_vs_load.gp
# Data columns: offered rate (calls/s), p50, p99, p99.9 (microseconds).
set terminal pngcairo size 1000,600 font ",11"
set output out
set title sprintf("CreateMember latency vs offered load, %s (open loop; nginx answering at once)", placement)
set xlabel "offered load (calls/s)"
set ylabel "latency from intended send time (µs, log scale)"
set logscale y
set grid ytics mytics xtics
set key top left
set format y "%g"
set arrow from graph 0, first 10000 to graph 1, first 10000 nohead dashtype 2 lc rgb "#888888"
set label "p99 limit 10 ms" at graph 0.01, first 12500 tc rgb "#666666"
plot d_file using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "D p50", \
     d_file using 1:3 with linespoints lw 2 pt 5 lc rgb "#1f77b4" dashtype 2 title "D p99", \
     d_file using 1:4 with linespoints lw 1 pt 3 lc rgb "#1f77b4" dashtype 3 title "D p99.9", \
     g_file using 1:2 with linespoints lw 2 pt 7 lc rgb "#d62728" title "G p50", \
     g_file using 1:3 with linespoints lw 2 pt 5 lc rgb "#d62728" dashtype 2 title "G p99", \
     g_file using 1:4 with linespoints lw 1 pt 3 lc rgb "#d62728" dashtype 3 title "G p99.9"
