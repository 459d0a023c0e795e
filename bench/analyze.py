#!/usr/bin/env python3
"""Summaries of the benchmarks' CSV: medians over repetitions, ratios
computed pair by pair (same condition, repetition and lap), the targets,
and the data and gnuplot script of the plots.

    analyze.py loop --csv loop.csv --timeline loop-timeline.csv --out DIR
    analyze.py ipc --csv ipc.csv --out DIR
    analyze.py loop --check --csv loop.csv    # columns only (smoke tests)
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict

LOOP_COLS = [
    "cond", "strategy", "rep", "lap", "writers", "file_bytes", "chunk",
    "complete", "bytes", "seconds", "gbps", "lat_p50_us", "lat_p99_us",
    "lat_max_us", "majflt", "minflt", "majflt_after_win1", "read_bytes",
    "write_bytes", "cache_peak_bytes", "memcg_max_usage_bytes", "maint",
    "reclaim", "maint_wait_ms", "reclaimed_bytes", "consumed_bytes",
]
# Added later (older CSVs lack them): lat_p999_us; cpu_busy, the share of
# all CPUs busy during the lap, cpu_steal, the share a VM's host took,
# cpu_s, the busy CPU-seconds (-1: not measured), and span_bytes, what all
# writers wrote meanwhile.
IPC_COLS = [
    "transport", "medium", "wait", "record_bytes", "rep", "records",
    "seconds", "records_per_s", "gbps", "lat_p50_us", "lat_p99_us",
    "lat_p999_us", "lat_max_us", "batch", "memcpy_gbps", "disk_write_gbps",
    "pin", "floor_p50_us", "floor_p99_us",
]


def read_csv(path, cols):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        sys.exit(f"{path}: missing columns {missing}")
    for i, r in enumerate(rows):
        for c in cols:
            if r[c] is None or r[c] == "":
                sys.exit(f"{path}: row {i + 2}: empty {c}")
    return rows


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def table(header, rows):
    w = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else
         len(str(h)) for i, h in enumerate(header)]
    lines = ["  ".join(str(h).rjust(w[i]) for i, h in enumerate(header))]
    for r in rows:
        lines.append("  ".join(str(c).rjust(w[i]) for i, c in enumerate(r)))
    return "\n".join(lines)


def markdown(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# ---- loop ---------------------------------------------------------------

# The strategies a reader compares; the rest are mring's knobs.
MAIN = ["naive", "pwrite", "odirect", "mring"]


def loop(args):
    rows = read_csv(args.csv, LOOP_COLS)
    if args.check:
        print(f"{args.csv}: {len(rows)} rows, columns ok")
        return
    order = []
    for r in rows:
        if r["strategy"] not in order:
            order.append(r["strategy"])
    conds = []
    for r in rows:
        if r["cond"] not in conds:
            conds.append(r["cond"])
    by = {}
    for r in rows:
        by[(r["cond"], r["strategy"], int(r["rep"]), int(r["lap"]))] = r
    reps = sorted({k[2] for k in by})
    laps = sorted({k[3] for k in by})

    def g(cond, s, rep, lap, col="gbps"):
        r = by.get((cond, s, rep, lap))
        if r is None or r.get(col) in (None, ""):
            return None
        return float(r[col])

    def ratio(cond, s, base, lap):
        rs = []
        for rep in reps:
            a, b = g(cond, s, rep, lap), g(cond, base, rep, lap)
            if a is not None and b:
                rs.append(a / b)
        return med(rs)

    def cpu_per_gb(r):
        """Busy CPU-seconds of the whole machine per GB written."""
        if (r.get("cpu_s") in (None, "") or float(r["cpu_s"]) < 0
                or not float(r.get("span_bytes") or 0)):
            return None
        return float(r["cpu_s"]) / (float(r["span_bytes"]) / 1e9)

    def cpu_pct(r, col):
        if r.get(col) in (None, "") or float(r[col]) < 0:
            return None
        return float(r[col]) * 100

    header = ["cond", "strategy", "lap", "GB/s", "x naive", "x pwrite",
              "x odirect", "p50 us", "p99 us", "p99.9 us", "max us",
              "majflt", "majflt>w1", "minflt", "read GB", "cache MB",
              "CPU %", "steal %", "CPU-s/GB", "n", "note"]
    out_rows, csv_rows = [], []
    for cond in conds:
        for s in order:
            for lap in laps:
                sel = [by[k] for k in by if k[0] == cond and k[1] == s
                       and k[3] == lap]
                if not sel:
                    continue

                def m(col):
                    return med(float(r[col]) for r in sel
                               if r.get(col) not in (None, ""))

                partial = sum(1 for r in sel if r["complete"] != "1")
                cache = med(float(r["cache_peak_bytes"]) for r in sel
                            if float(r["cache_peak_bytes"]) >= 0)
                rec = dict(cond=cond, strategy=s, lap=lap, gbps=m("gbps"),
                           x_naive=ratio(cond, s, "naive", lap),
                           x_pwrite=ratio(cond, s, "pwrite", lap),
                           x_odirect=ratio(cond, s, "odirect", lap),
                           p50_us=m("lat_p50_us"), p99_us=m("lat_p99_us"),
                           p999_us=m("lat_p999_us"),
                           max_us=m("lat_max_us"), majflt=m("majflt"),
                           majflt_after_win1=m("majflt_after_win1"),
                           minflt=m("minflt"),
                           read_gb=m("read_bytes") / 1e9,
                           cache_peak_mb=None if cache is None else cache / 1e6,
                           cpu_busy_pct=med(cpu_pct(r, "cpu_busy")
                                            for r in sel),
                           cpu_steal_pct=med(cpu_pct(r, "cpu_steal")
                                             for r in sel),
                           cpu_s_per_gb=med(cpu_per_gb(r) for r in sel),
                           reps=len(sel), partial_reps=partial)
                csv_rows.append(rec)
                out_rows.append([
                    cond, s, lap, fmt(rec["gbps"], ".3f"),
                    fmt(rec["x_naive"]), fmt(rec["x_pwrite"]),
                    fmt(rec["x_odirect"]),
                    fmt(rec["p50_us"], ".0f"), fmt(rec["p99_us"], ".0f"),
                    fmt(rec["p999_us"], ".0f"),
                    fmt(rec["max_us"], ".0f"), fmt(rec["majflt"], ".0f"),
                    fmt(rec["majflt_after_win1"], ".0f"),
                    fmt(rec["minflt"], ".0f"), fmt(rec["read_gb"]),
                    fmt(rec["cache_peak_mb"], ".0f"),
                    fmt(rec["cpu_busy_pct"], ".0f"),
                    fmt(rec["cpu_steal_pct"], ".0f"),
                    fmt(rec["cpu_s_per_gb"]), len(sel),
                    f"partial x{partial}" if partial else ""])
    text = table(header, out_rows)
    print(text)

    # Steady state: laps 2.. together, per repetition.
    def late_sums(cond, s, rep, num, den):
        """Columns num and den summed over laps 2..; None if one lacks
        them."""
        a = b = 0.0
        for lap in laps:
            r = by.get((cond, s, rep, lap))
            if lap < 2 or r is None:
                continue
            if r.get(num) in (None, "") or r.get(den) in (None, ""):
                return None
            a += float(r[num])
            b += float(r[den])
        return a, b

    def steady(cond, s, rep):
        """Bytes over time, GB/s."""
        ab = late_sums(cond, s, rep, "bytes", "seconds")
        return ab[0] / ab[1] / 1e9 if ab and ab[1] > 0 else None

    def steady_ratio(cond, s, base):
        return med(steady(cond, s, rep) / steady(cond, base, rep)
                   for rep in reps if steady(cond, s, rep)
                   and steady(cond, base, rep))

    def steady_cpu(cond, s, rep):
        """Busy CPU-seconds per GB written."""
        ab = late_sums(cond, s, rep, "cpu_s", "span_bytes")
        if not ab or ab[0] < 0 or ab[1] <= 0:
            return None
        return ab[0] / (ab[1] / 1e9)

    sheader = ["cond", "strategy", "steady GB/s", "x naive", "x pwrite",
               "x odirect", "worst p99.9 us", "worst max us", "CPU-s/GB",
               "n"]
    srows = []
    for cond in conds:
        for s in order:
            vals = [steady(cond, s, rep) for rep in reps]
            if all(v is None for v in vals):
                continue
            late = [r for k, r in by.items() if k[0] == cond
                    and k[1] == s and k[3] >= 2]
            p999 = [float(r["lat_p999_us"]) for r in late
                    if r.get("lat_p999_us") not in (None, "")]
            srows.append([cond, s, fmt(med(vals), ".3f"),
                          fmt(steady_ratio(cond, s, "naive")),
                          fmt(steady_ratio(cond, s, "pwrite")),
                          fmt(steady_ratio(cond, s, "odirect")),
                          fmt(max(p999) if p999 else None, ".0f"),
                          fmt(max((float(r["lat_max_us"]) for r in late),
                                  default=None), ".0f"),
                          fmt(med(steady_cpu(cond, s, rep) for rep in reps)),
                          sum(1 for v in vals if v is not None)])
    if srows:
        print("\nsteady state (laps 2 and later together):")
        print(table(sheader, srows))
    with open(f"{args.out}/loop-summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(csv_rows[0].keys()))
        w.writeheader()
        w.writerows(csv_rows)
    targets = loop_targets(conds, laps, reps, by, ratio, steady_ratio)
    print("\n" + "\n".join(targets))
    with open(f"{args.out}/loop-summary.md", "w") as f:
        if args.machine:
            f.write("```\n" + open(args.machine).read() + "```\n\n")
        f.write(markdown(header, out_rows) + "\n\n")
        if srows:
            f.write("Steady state (laps 2 and later together):\n\n")
            f.write(markdown(sheader, srows) + "\n\n")
        f.write("\n".join("- " + t for t in targets) + "\n")
    if args.timeline:
        loop_plot(args, conds, order)


def loop_targets(conds, laps, reps, by, ratio, steady_ratio):
    """Issue 12's targets, each with the figures it rests on."""
    out = []
    s = "mring"
    if not any(k[1] == s for k in by):
        return out

    def verdict(ok):
        return "MET" if ok else "MISSED"

    for cond in conds:
        xp = ratio(cond, s, "pwrite", 1)
        if xp is not None:
            out.append(f"{cond}, first lap: mring {fmt(xp)}x pwrite "
                       f"(>= 0.9): {verdict(xp >= 0.9)}")
        if any(lap >= 2 for lap in laps):
            xo = steady_ratio(cond, s, "odirect")
            xp = steady_ratio(cond, s, "pwrite")
            xn = steady_ratio(cond, s, "naive")
            parts = []
            if xo is not None:
                parts.append(f"{fmt(xo)}x odirect (>= 1)")
            if xp is not None:
                parts.append(f"{fmt(xp)}x pwrite (>= 1.5)")
            if xn is not None and cond == "slow":
                parts.append(f"{fmt(xn)}x naive (>= 10)")
            ok = ((xo is None or xo >= 1) and (xp is None or xp >= 1.5)
                  and (xn is None or cond != "slow" or xn >= 10))
            if parts:
                out.append(f"{cond}, steady state (laps 2+): mring "
                           + ", ".join(parts) + f": {verdict(ok)}")
        mj = [int(r["majflt_after_win1"]) for k, r in by.items()
              if k[0] == cond and k[1] == s]
        if mj:
            out.append(f"{cond}, writer major faults after the first "
                       f"window (all laps, reps, writers): {sum(mj)} "
                       f"(0): {verdict(sum(mj) == 0)}")
        worse = []
        for lap in laps:
            for rep in reps:
                a, b = by.get((cond, s, rep, lap)), by.get(
                    (cond, "pwrite", rep, lap))
                if a and b and float(a["lat_max_us"]) > float(
                        b["lat_max_us"]):
                    worse.append(f"lap {lap} rep {rep}: "
                                 f"{float(a['lat_max_us']) / 1e3:.0f} ms "
                                 f"vs {float(b['lat_max_us']) / 1e3:.0f}")
        if any(k[1] == "pwrite" and k[0] == cond for k in by):
            out.append(f"{cond}, max chunk latency no worse than pwrite's in "
                       f"the same repetition and lap: "
                       + (verdict(True) if not worse else
                          verdict(False) + " (" + "; ".join(worse) + ")"))
    return out


# One colour per strategy, the same in every panel.
COLOURS = ["#000000", "#777777", "#1f77b4", "#6baed6", "#8c564b",
           "#ff7f0e", "#bcbd22", "#9467bd", "#2ca02c", "#17becf",
           "#d62728", "#e377c2", "#8b0000"]


def interp(samples, t):
    """Bytes written at time t, from (t, bytes) samples."""
    if not samples or t <= samples[0][0]:
        return 0.0 if not samples or t < samples[0][0] else samples[0][1]
    for (t0, b0), (t1, b1) in zip(samples, samples[1:]):
        if t0 <= t <= t1:
            return b0 if t1 == t0 else b0 + (b1 - b0) * (t - t0) / (t1 - t0)
    return samples[-1][1]


def loop_plot(args, conds, order):
    series = defaultdict(list)   # (cond, strategy, rep, writer) -> samples
    cache = defaultdict(list)
    fsize = {}
    for r in csv.DictReader(open(args.timeline)):
        key = (r["cond"], r["strategy"], int(r["rep"]))
        if r["writer"] == "-1":
            cache[key].append((float(r["t"]), float(r["bytes"])))
        else:
            series[key + (int(r["writer"]),)].append(
                (float(r["t"]), float(r["bytes"])))
    for r in csv.DictReader(open(args.csv)):
        fsize[r["strategy"]] = float(r["file_bytes"])
    rep = 1
    dt = args.bin
    plots = []
    for cond in conds:
        dat = f"{args.out}/loop-timeline-{cond}.dat"
        wraps = f"{args.out}/loop-wraps-{cond}.dat"
        idx = 0
        names = []
        with open(dat, "w") as f, open(wraps, "w") as fw:
            for s in order:
                ws = [v for k, v in series.items()
                      if k[:3] == (cond, s, rep)]
                if not ws:
                    continue
                ws = [sorted(v) for v in ws]
                end = max(v[-1][0] for v in ws)
                f.write(f"# {s}\n")
                t = 0.0
                while t < end:
                    b0 = sum(interp(v, t) for v in ws)
                    b1 = sum(interp(v, t + dt) for v in ws)
                    f.write(f"{t + dt / 2:.3f} {(b1 - b0) / dt / 1e9:.4f}\n")
                    t += dt
                f.write("\n\n")
                # Wrap points: where writer 0 starts lap 2, 3...
                fw.write(f"# {s}\n")
                v = ws[0]
                lap = 1
                for (t0, b0), (t1, b1) in zip(v, v[1:]):
                    while b1 >= lap * fsize[s] > b0 and b1 < v[-1][1] + 1:
                        tw = t0 + (t1 - t0) * (lap * fsize[s] - b0) / (b1 - b0)
                        rate = (sum(interp(x, tw + dt / 2) for x in ws) -
                                sum(interp(x, tw - dt / 2) for x in ws))
                        fw.write(f"{tw:.3f} {rate / dt / 1e9:.4f} {lap + 1}\n")
                        lap += 1
                fw.write("\n\n")
                names.append((idx, s))
                idx += 1
        plots.append((cond, dat, wraps, names))
    lat = loop_latency(args, conds) if args.latency else []
    gp = f"{args.out}/loop-plot.gp"
    with open(gp, "w") as f:
        def figure(name, keep, what):
            panels = [(c, d, w, [(i, s) for i, s in names if keep(s)])
                      for c, d, w, names in plots]
            panels = [p for p in panels if p[3]]
            if not panels:
                return
            f.write(f'set terminal pngcairo size 1400,{480 * len(panels)} '
                    f'font "sans,10"\n'
                    if args.cairo else
                    f'set terminal png size 1400,{480 * len(panels)}\n')
            f.write(f'set output "{args.out}/{name}"\n')
            f.write(f"set multiplot layout {len(panels)},1\n")
            f.write("set key outside right\nset grid\nunset logscale\n")
            f.write('set xlabel "seconds since start (repetition 1)"\n')
            f.write(f'set ylabel "GB/s, all writers ({dt:g} s bins)"\n')
            for cond, dat, wraps, names in panels:
                f.write(f'set title "loop-around, {cond}: {what}; '
                        f'triangles = writer 0 starts lap 2, 3..."\n')
                parts = []
                for i, s in names:
                    c = COLOURS[order.index(s) % len(COLOURS)]
                    dash = 2 if s.endswith("-nora") else 1
                    parts.append(f'"{dat}" index {i} using 1:2 with lines '
                                 f'lw 2 dt {dash} lc rgb "{c}" title "{s}"')
                    parts.append(f'"{wraps}" index {i} using 1:2 with '
                                 f'points pt 9 ps 1.5 lc rgb "{c}" notitle')
                f.write("plot " + ", \\\n     ".join(parts) + "\n")
            f.write("unset multiplot\n")

        figure("loop.png", lambda s: s in MAIN,
               "naive mmap, pwrite, odirect (O\\\\_DIRECT) and mring")
        figure("loop-knobs.png", lambda s: s == "mring" or s not in MAIN,
               "mring's variants (mring = the defaults)")
        if lat:
            f.write(f'set terminal pngcairo size 1400,{480 * len(lat)} '
                    f'font "sans,10"\n')
            f.write(f'set output "{args.out}/loop-latency.png"\n')
            f.write(f"set multiplot layout {len(lat)},1\n")
            f.write("set key outside right\nset grid\n"
                    "set logscale xy\nset format y \"%g\"\n")
            f.write('set xlabel "chunk latency, us (log)"\n')
            f.write('set ylabel "fraction of chunks slower (log)"\n')
            for cond, dat, names in lat:
                f.write(f'set title "loop-around, {cond}: chunk latency '
                        f'tail, all writers and repetitions; solid = laps '
                        f'2 and later, dashed = lap 1"\n')
                parts = []
                for i, s, first in names:
                    c = COLOURS[order.index(s) % len(COLOURS)]
                    parts.append(f'"{dat}" index {i} using 1:2 with steps '
                                 f'lw 2 dt {2 if first else 1} lc rgb "{c}" '
                                 + (f'notitle' if first else f'title "{s}"'))
                f.write("plot " + ", \\\n     ".join(parts) + "\n")
            f.write("unset multiplot\n")


def loop_latency(args, conds):
    """Per condition: a data file of complementary CDFs (fraction of
    chunks slower than x) of the main strategies, lap 1 and laps 2+."""
    hist = defaultdict(lambda: defaultdict(int))
    for r in csv.DictReader(open(args.latency)):
        if r["strategy"] not in MAIN:
            continue
        key = (r["cond"], r["strategy"], int(r["lap"]) == 1)
        hist[key][float(r["us"])] += int(r["count"])
    out = []
    for cond in conds:
        dat = f"{args.out}/loop-latency-{cond}.dat"
        names, idx = [], 0
        with open(dat, "w") as f:
            for s in MAIN:
                for first in (False, True):
                    h = hist.get((cond, s, first))
                    if not h:
                        continue
                    total = sum(h.values())
                    above = total
                    f.write(f"# {s} {'lap 1' if first else 'laps 2+'}\n")
                    for us in sorted(h):
                        above -= h[us]
                        # log scale: stop at the last chunk
                        f.write(f"{us:.2f} {max(above, 0.5) / total:.3g}\n")
                    f.write("\n\n")
                    names.append((idx, s, first))
                    idx += 1
        if names:
            out.append((cond, dat, names))
    return out


# ---- ipc ----------------------------------------------------------------

def ipc(args):
    rows = read_csv(args.csv, IPC_COLS)
    if args.check:
        print(f"{args.csv}: {len(rows)} rows, columns ok")
        return
    groups = defaultdict(list)
    order = []
    for r in rows:
        k = (r["transport"], r["medium"], r["wait"], int(r["record_bytes"]),
             int(r["batch"]))
        if k not in order:
            order.append(k)
        groups[k].append(r)
    memcpy = med(float(r["memcpy_gbps"]) for r in rows)
    disk = med(float(r["disk_write_gbps"]) for r in rows
               if float(r["disk_write_gbps"]) > 0)
    # One floor per invocation (rep); every row of a rep repeats it.
    floors = {int(r["rep"]): (float(r["floor_p50_us"]),
                              float(r["floor_p99_us"])) for r in rows}
    floor50 = med(v[0] for v in floors.values())
    floor99 = med(v[1] for v in floors.values())
    pins = sorted({r["pin"] for r in rows})
    byrep = {(r["transport"], r["medium"], r["wait"], int(r["record_bytes"]),
              int(r["batch"]), int(r["rep"])): r for r in rows}

    def pair_ratio(k, base):
        rs = []
        for r in groups[k]:
            b = byrep.get(base + (int(r["rep"]),))
            if b and float(b["gbps"]) > 0:
                rs.append(float(r["gbps"]) / float(b["gbps"]))
        return med(rs)

    header = ["transport", "medium", "wait", "record", "batch", "Mrec/s",
              "GB/s",
              "x memcpy", "x pipe1M", "p50 us", "p99 us", "p99.9 us",
              "max us", "n"]
    out = []
    summ = []
    for k in order:
        g = groups[k]

        def m(col):
            return med(float(r[col]) for r in g)
        xm = med(float(r["gbps"]) / float(r["memcpy_gbps"]) for r in g
                 if float(r["memcpy_gbps"]) > 0)
        xp = pair_ratio(k, ("pipe", "-", k[2], k[3], k[4]))
        rec = dict(transport=k[0], medium=k[1], wait=k[2], record_bytes=k[3],
                   batch=k[4],
                   mrec_s=m("records_per_s") / 1e6, gbps=m("gbps"),
                   x_memcpy=xm, x_pipe=xp, p50_us=m("lat_p50_us"),
                   p99_us=m("lat_p99_us"), p999_us=m("lat_p999_us"),
                   max_us=m("lat_max_us"), reps=len(g))
        summ.append(rec)
        out.append([k[0], k[1], k[2], k[3], k[4], fmt(rec["mrec_s"], ".3f"),
                    fmt(rec["gbps"], ".3f"), fmt(xm), fmt(xp),
                    fmt(rec["p50_us"], ".1f"), fmt(rec["p99_us"], ".1f"),
                    fmt(rec["p999_us"], ".1f"), fmt(rec["max_us"], ".0f"),
                    len(g)])
    print(table(header, out))
    refs = (f"memcpy (64 MiB blocks, one thread): {fmt(memcpy)} GB/s; "
            f"disk buffered write: {fmt(disk)} GB/s; wake-up floor (no "
            f"transport: a bare shared word, spinning) p50 "
            f"{fmt(floor50, '.2f')} / p99 {fmt(floor99, '.1f')} us, per rep "
            + ", ".join(f"{fmt(v[1], '.1f')}" for _, v in
                        sorted(floors.items()))
            + f"; CPU pinning (producer/consumer): {', '.join(pins)}")
    print("\n" + refs)
    targets = ipc_targets(summ, memcpy, floor99)
    print("\n".join(targets))
    with open(f"{args.out}/ipc-summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summ[0].keys()))
        w.writeheader()
        w.writerows(summ)
    with open(f"{args.out}/ipc-summary.md", "w") as f:
        if args.machine:
            f.write("```\n" + open(args.machine).read() + "```\n\n")
        f.write(markdown(header, out) + "\n\n")
        f.write(refs + "\n\n")
        f.write("\n".join("- " + t for t in targets) + "\n")


def ipc_targets(summ, memcpy, floor99):
    def find(t, med_, wait, size, batched=False):
        for r in summ:
            if (r["transport"], r["medium"], r["wait"],
                    r["record_bytes"]) == (t, med_, wait, size) and \
                    (r["batch"] > 1) == batched:
                return r
        return None
    out = []
    for wait in ("spin", "sleep"):
        r = find("mring", "shm", wait, 1 << 20)
        if r:
            ok = (r["x_memcpy"] or 0) >= 0.4 and (r["x_pipe"] or 0) >= 2
            out.append(f"target 3, 1 MiB records on /dev/shm ({wait}): "
                       f"{fmt(r['gbps'])} GB/s = {fmt(r['x_memcpy'])}x memcpy"
                       f" (>= 0.4), {fmt(r['x_pipe'])}x 1 MiB pipe (>= 2): "
                       f"{'MET' if ok else 'MISSED'}")
        r = find("mring", "shm", wait, 64, batched=True)
        one = find("mring", "shm", wait, 64)
        if r:
            ok = r["mrec_s"] >= 20
            out.append(f"target 3, 64 B records on /dev/shm ({wait}), "
                       f"{r['batch']} per commit: {fmt(r['mrec_s'])} M "
                       f"records/s (>= 20; one per commit: "
                       f"{fmt(one and one['mrec_s'])}): "
                       f"{'MET' if ok else 'MISSED'}")
    for wait, lim in (("spin", 10), ("sleep", 100)):
        r = find("mring", "shm", wait, 64)
        if r:
            ok = r["p99_us"] < lim
            out.append(f"target 4, wake-up p99 ({wait}, 64 B, /dev/shm): "
                       f"{fmt(r['p99_us'], '.1f')} us (< {lim}): "
                       f"{'MET' if ok else 'MISSED'}"
                       + (f" (this machine's floor, no transport: "
                          f"{fmt(floor99, '.1f')} us)"
                          if wait == "spin" else ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["loop", "ipc"])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--timeline")
    ap.add_argument("--latency")
    ap.add_argument("--out", default=".")
    ap.add_argument("--machine")
    ap.add_argument("--bin", type=float, default=1.0)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--cairo", action="store_true", default=True)
    args = ap.parse_args()
    loop(args) if args.what == "loop" else ipc(args)


if __name__ == "__main__":
    main()
