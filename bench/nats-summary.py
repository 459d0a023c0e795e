#!/usr/bin/python3
"""Medians and ratios of bench/run-nats.sh's nats.csv.

Writes nats-summary.csv and nats-summary.md: per topology and record size,
the median records/s and MB/s of every phase next to its bare counterpart,
the ratio bridge/bare (taken within each repetition, then the median; and
the worst repetition), the target (bridge publish >= 0.8 x bare publish at
every size), and the end-to-end latency at the offered loads, bridge and
bare side by side.
"""
import argparse
import csv
import statistics
import sys

TARGET = 0.8
# (bridge phase, bare phase, label)
PAIRS = [("bridge-pub", "bare", "publish"),
         ("bridge-sub", "bare-sub", "subscribe"),
         ("e2e", "bare-e2e", "end to end")]
# A paced run that delivered less than this share of the offered rate was
# saturated: its latency is queueing, and grows with the run's length.
SATURATED = 0.95


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:,.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--load", default="0.5")
    a = ap.parse_args()

    rows = list(csv.DictReader(open(a.csv)))
    keys = []
    for r in rows:
        k = (r["topology"], r["replicas"], int(r["size"]))
        if k not in keys:
            keys.append(k)

    def sel(k, phase):
        return [r for r in rows
                if (r["topology"], r["replicas"], int(r["size"])) == k
                and r["phase"] == phase and r["status"] == "ok"]

    def rates(k, phase):
        return {r["rep"]: float(r["rate"]) for r in sel(k, phase)}

    out = []
    md = ["# ring -> JetStream -> ring: mring-nats against bare libnats\n",
          "```", open(a.machine).read().rstrip(), "```", ""]
    md.append(
        "Records/s, medians over repetitions; `x` = bridge / bare, taken "
        "within each repetition, then the median (`worst`: the lowest "
        "repetition). Every run starts with a fresh stream of the same "
        "configuration.\n\n"
        "- **publish**: `bare` = bench/nats bare, a libnats asynchronous "
        "publisher (js_PublishMsgAsync, the same window of outstanding "
        "publishes, a Nats-Msg-Id per record) of N records; `bridge` = "
        "`mring-nats publish --count N` from a ring holding the same N "
        "records. Both timed from process start to exit after the last "
        "acknowledgement.\n"
        "- **subscribe**: that stream, now full, read out: `bare` = a "
        "libnats pull consumer (durable, explicit acks, fetches of up to 256, as "
        "mring-nats subscribe); "
        "`bridge` = `mring-nats subscribe --count N` into a far ring read "
        "meanwhile by bench/nats drain. From process start to the last "
        "record seen by the reader.\n"
        "- **end to end**: publisher and consumer at once, from process "
        "start to the last record at the reader: bare publisher -> stream "
        "-> bare consumer, against ring -> publish -> stream -> subscribe "
        "-> far ring -> drain.\n")
    hdr = "| topology | size |"
    sep = "|---|---:|"
    for _, _, label in PAIRS:
        hdr += f" {label} bare | bridge | x | worst |"
        sep += "---:|---:|---:|---:|"
    md += [hdr + " target (publish x >= 0.8) |", sep + "---|"]
    mbs = ["| topology | size |" + "".join(
        f" {lbl} bare MB/s | bridge MB/s |" for _, _, lbl in PAIRS),
        "|---|---:|" + "---:|---:|" * len(PAIRS)]
    verdicts = []
    for k in keys:
        topo, repl, size = k
        line = f"| {topo} (R{repl}) | {size} |"
        mline = line
        row = {"topology": topo, "replicas": repl, "size": size}
        for br, ba, label in PAIRS:
            rb, rr = rates(k, ba), rates(k, br)
            x = [rr[i] / rb[i] for i in rr if i in rb and rb[i]]
            mb, mr = med(list(rb.values())), med(list(rr.values()))
            line += (f" {fmt(mb)} | {fmt(mr)} | {fmt(med(x), 2)} | "
                     f"{fmt(min(x) if x else None, 2)} |")
            mline += (f" {fmt(mb and mb * size / 1e6, 1)} | "
                      f"{fmt(mr and mr * size / 1e6, 1)} |")
            key = label.replace(" ", "_")
            row[f"{key}_bare_rate"] = mb
            row[f"{key}_bridge_rate"] = mr
            row[f"{key}_x"] = med(x)
            row[f"{key}_x_worst"] = min(x) if x else None
            row[f"{key}_pairs"] = len(x)
            if br == "bridge-pub":
                ratio, npairs = med(x), len(x)
        if ratio is None or npairs < 3:
            verdict = f"NOT MEASURED ({npairs} paired runs, need 3)"
        elif ratio >= TARGET:
            verdict = "MET"
        else:
            verdict = "MISSED"
        row["target"] = verdict.split()[0]
        verdicts.append((topo, size, verdict, ratio))
        md.append(line + f" {verdict} |")
        mbs.append(mline)
        for pt in ("a", "b"):
            for ph, pre in ((f"latency-{pt}", f"lat_{pt}"),
                            (f"bare-lat-{pt}", f"bare_lat_{pt}")):
                lat = sel(k, ph)
                row[f"{pre}_offered"] = med(
                    [float(r["offered"]) for r in lat])
                row[f"{pre}_delivered"] = med(
                    [float(r["rate"]) for r in lat])
                for c in ("p50_us", "p99_us", "p999_us"):
                    row[f"{pre}_{c}"] = med([float(r[c]) for r in lat])
                row[f"{pre}_max_us"] = max(
                    [float(r["max_us"]) for r in lat]) if lat else None
                row[f"{pre}_reps"] = len(lat)
        row["failed_runs"] = sum(
            1 for r in rows
            if (r["topology"], r["replicas"], int(r["size"])) == k
            and r["status"] != "ok")
        out.append(row)

    md += ["", "MB/s (1e6 bytes of record payload per second), medians:\n"]
    md += mbs
    md += ["",
           "## End-to-end latency\n",
           "A paced writer at a fixed offered rate; latency = the reader's "
           "CLOCK_REALTIME when it sees the record - the record's stamp. "
           "Bridge: a producer writes the source ring (stamped at commit); "
           "publish, subscribe and bench/nats drain run meanwhile; the "
           "stamp is the far ring's (Mring-Ts carried through, checked "
           "equal to the producer's). Bare: the bare publisher paced at "
           "the same rate, the bare pull consumer reading meanwhile, the "
           "stamp inside the record. Point a: "
           f"{a.load} x the median bare end-to-end rate; point b (only "
           f"when the bridge's end-to-end rate is lower): {a.load} x the "
           "bridge's, so that neither side is saturated. Medians over "
           "repetitions of each percentile; max is the worst run; the "
           "first 10% of each run's records are not counted. `delivered` "
           "is the reader's rate; below "
           f"{SATURATED:.0%} of the offered rate the run was SATURATED: "
           "its latency is queueing that grows with the run's length, not "
           "a property of the path.\n",
           "| topology | size | point | offered rec/s | bridge delivered "
           "| p50 ms | p99 ms | p99.9 ms | max ms | bare delivered | p50 "
           "ms | p99 ms | p99.9 ms | max ms | reps |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
           "---:|---:|---|"]

    def ms(x):
        return fmt(x / 1e3 if x is not None else None, 2)

    def dl(s, pre):
        d, o = s[f"{pre}_delivered"], s[f"{pre}_offered"]
        if d is None:
            return "-"
        sat = " SATURATED" if o and d < SATURATED * o else ""
        return fmt(d) + sat

    for s in out:
        for pt in ("a", "b"):
            if not s[f"lat_{pt}_reps"] and not s[f"bare_lat_{pt}_reps"]:
                continue
            md.append(
                f"| {s['topology']} (R{s['replicas']}) | {s['size']} | "
                f"{pt} | {fmt(s[f'lat_{pt}_offered'] or s[f'bare_lat_{pt}_offered'])} | "
                f"{dl(s, f'lat_{pt}')} | "
                + " | ".join(ms(s[f"lat_{pt}_{c}"]) for c in
                             ("p50_us", "p99_us", "p999_us", "max_us"))
                + f" | {dl(s, f'bare_lat_{pt}')} | "
                + " | ".join(ms(s[f"bare_lat_{pt}_{c}"]) for c in
                             ("p50_us", "p99_us", "p999_us", "max_us"))
                + f" | {s[f'lat_{pt}_reps']}/{s[f'bare_lat_{pt}_reps']} |")
    md += ["", "## Target: bridge publish >= 0.8 x bare publisher\n"]
    for topo, size, v, r in verdicts:
        md.append(f"- {topo}, {size} B: {v}"
                  + (f" (median {r:.3f}x)" if r is not None else ""))
    nf = sum(s["failed_runs"] for s in out)
    md.append(f"\nFailed runs (not in the figures above): {nf}.\n")

    with open(f"{a.out}/nats-summary.md", "w") as f:
        f.write("\n".join(md))
    with open(f"{a.out}/nats-summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0].keys()) if out
                           else ["topology"])
        w.writeheader()
        for s in out:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v)
                        for k, v in s.items()})
    print("\n".join(md[5:]))  # all but the title and the machine
    print(f"summary: {a.out}/nats-summary.md, {a.out}/nats-summary.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
