# Throughput per path, drawn by bench/report.py:
#   gnuplot -e "data='throughput.dat'; out='throughput.png'" throughput.gp
# Data rows: path, max calls/s at p99 <= 10 ms pinned, the same on 2 cores
# unpinned, and calls/s at saturation (closed loop, many in flight, pinned);
# 0 where not measured or no rate passed (labelled "none"), -1 where not measured (no label).
set terminal pngcairo size 900,520 font ",11"
set output out
set title "CreateMember throughput per path (nginx upstream answering at once)"
set ylabel "calls/s"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
label(v) = v > 0 ? sprintf("%.0f", v) : (v == 0 ? "none" : "")
bar(v) = v < 0 ? 0 : v
set key top right
plot data using (bar($2)):xtic(1) title "max at p99 <= 10 ms, pinned" lc rgb "#4c72b0", \
     '' using (bar($3)) title "max at p99 <= 10 ms, 2 cores unpinned" lc rgb "#55a868", \
     '' using (bar($4)) title "saturation, pinned" lc rgb "#c44e52", \
     '' using ($0 - 0.25):(bar($2)):(label($2)) with labels offset 0,0.7 notitle, \
     '' using 0:(bar($3)):(label($3)) with labels offset 0,0.7 notitle, \
     '' using ($0 + 0.25):(bar($4)):(label($4)) with labels offset 0,0.7 notitle
