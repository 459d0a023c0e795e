#!/usr/bin/python3
"""Medians and ratios of bench/run-nats.sh's nats.csv.

Writes nats-summary.csv and nats-summary.md: per topology and record size,
the median records/s and MB/s of every phase, the bridge's publish rate
over the bare publisher's (the ratio taken within each repetition, then
the median, and the worst repetition), the target (bridge >= 0.8 x bare),
and the end-to-end latency at the offered load.
"""
import argparse
import csv
import statistics
import sys

TARGET = 0.8


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

    def ok(k, phase):
        return [r for r in rows
                if (r["topology"], r["replicas"], int(r["size"])) == k
                and r["phase"] == phase and r["status"] == "ok"]

    def failed(k):
        return sum(1 for r in rows
                   if (r["topology"], r["replicas"], int(r["size"])) == k
                   and r["status"] != "ok")

    out = []
    md = []
    md.append("# ring -> JetStream -> ring: mring-nats against a bare "
              "libnats publisher\n")
    md.append("```")
    md.append(open(a.machine).read().rstrip())
    md.append("```\n")
    md.append("Medians over repetitions. `bridge/bare`: the bridge's "
              "publish rate (pre-filled ring -> stream, process start to "
              "exit after the last ack) over the bare publisher's (the "
              "same records, window and stream configuration, timed the "
              "same way), taken within each repetition, then the median; "
              "`worst` is the lowest repetition. `bare-sub`, `bridge-sub`: "
              "that stream, once full, read out by a bare JetStream pull "
              "consumer / by mring-nats subscribe into a far ring that "
              "bench/nats drain reads (start to last record seen). `e2e`: "
              "ring -> publish -> stream -> subscribe -> far ring, all at "
              "once from a pre-filled ring, start to the last record at "
              "the far reader. Target: bridge >= "
              f"{TARGET} x bare at every size.\n")
    md.append("| topology | size | bare rec/s | bare MB/s | bridge-pub "
              "rec/s | bridge-pub MB/s | bridge/bare | worst | target | "
              "bare-sub rec/s | bridge-sub rec/s | sub bridge/bare | e2e rec/s | e2e MB/s | e2e/bare | reps "
              "| failed runs |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:"
              "|---:|---:|---:|---:|---:|")
    verdicts = []
    for k in keys:
        topo, repl, size = k
        bare = {r["rep"]: float(r["rate"]) for r in ok(k, "bare")}
        pub = {r["rep"]: float(r["rate"]) for r in ok(k, "bridge-pub")}
        sub = {r["rep"]: float(r["rate"]) for r in ok(k, "bridge-sub")}
        bsub = {r["rep"]: float(r["rate"]) for r in ok(k, "bare-sub")}
        subr = [sub[i] / bsub[i] for i in sub if i in bsub and bsub[i]]
        e2e = {r["rep"]: float(r["rate"]) for r in ok(k, "e2e")}
        ratios = [pub[i] / bare[i] for i in pub if i in bare and bare[i]]
        e2er = [e2e[i] / bare[i] for i in e2e if i in bare and bare[i]]
        mb, mp, me = med(list(bare.values())), med(list(pub.values())), \
            med(list(e2e.values()))
        ratio = med(ratios)
        nfail = failed(k)
        if ratio is None or len(ratios) < 3:
            verdict = "NOT MEASURED (fewer than 3 paired runs)"
        elif ratio >= TARGET:
            verdict = "MET"
        else:
            verdict = "MISSED"
        verdicts.append((topo, size, verdict, ratio))
        md.append(
            f"| {topo} (R{repl}) | {size} | {fmt(mb)} | "
            f"{fmt(mb and mb * size / 1e6, 2)} | {fmt(mp)} | "
            f"{fmt(mp and mp * size / 1e6, 2)} | {fmt(ratio, 2)} | "
            f"{fmt(min(ratios) if ratios else None, 2)} | {verdict} | "
            f"{fmt(med(list(bsub.values())))} | "
            f"{fmt(med(list(sub.values())))} | {fmt(med(subr), 2)} | "
            f"{fmt(me)} | "
            f"{fmt(me and me * size / 1e6, 2)} | {fmt(med(e2er), 2)} | "
            f"{len(ratios)} | {nfail} |")
        row = {
            "topology": topo, "replicas": repl, "size": size,
            "bare_rate": mb, "bridge_pub_rate": mp,
            "bridge_over_bare": ratio,
            "bridge_over_bare_min": min(ratios) if ratios else None,
            "target": verdict.split()[0] if ratio is not None else "NONE",
            "bare_sub_rate": med(list(bsub.values())),
            "bridge_sub_rate": med(list(sub.values())),
            "sub_bridge_over_bare": med(subr), "e2e_rate": me,
            "e2e_over_bare": med(e2er),
        }
        for ph, pre in (("latency", "lat"), ("bare-lat", "bare_lat")):
            lat = ok(k, ph)
            row[f"{pre}_offered"] = med([float(r["offered"]) for r in lat])
            for c in ("p50_us", "p99_us", "p999_us"):
                row[f"{pre}_{c}"] = med([float(r[c]) for r in lat])
            row[f"{pre}_max_us"] = max([float(r["max_us"]) for r in lat]) \
                if lat else None
            row[f"{pre}_reps"] = len(lat)
        row["failed_runs"] = nfail
        out.append(row)

    md.append("")
    md.append(f"End-to-end latency: a producer paced at {a.load} x the "
              "slower of the median bare and bare-sub rates writes into the source ring (stamped at "
              "commit, CLOCK_REALTIME); publish, subscribe and the drain "
              "run meanwhile; latency = the drain's clock when it sees the "
              "record in the far ring - the stamp the far ring carries "
              "(checked equal to the producer's). Baseline (bare): the "
              "bare publisher paced at the same rate into the same kind "
              "of stream, read by a bare JetStream pull consumer (durable, "
              "explicit acks, fetches of up to 256); latency from the "
              "stamp in the record. Medians over repetitions of each "
              "percentile; max is the worst run. The first 10% of each "
              "run's records are not counted.\n")
    md.append("| topology | size | offered rec/s | bridge p50 ms | p99 ms "
              "| p99.9 ms | max ms | bare p50 ms | p99 ms | p99.9 ms | "
              "max ms | reps bridge/bare |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")

    def ms(x):
        return fmt(x / 1e3 if x is not None else None, 2)
    for s in out:
        md.append(f"| {s['topology']} (R{s['replicas']}) | {s['size']} | "
                  f"{fmt(s['lat_offered'])} | "
                  + " | ".join(ms(s[f"lat_{c}"]) for c in
                               ("p50_us", "p99_us", "p999_us", "max_us"))
                  + " | "
                  + " | ".join(ms(s[f"bare_lat_{c}"]) for c in
                               ("p50_us", "p99_us", "p999_us", "max_us"))
                  + f" | {s['lat_reps']}/{s['bare_lat_reps']} |")
    md.append("")
    md.append("## Target: bridge >= 0.8 x bare publisher\n")
    for topo, size, v, r in verdicts:
        md.append(f"- {topo}, {size} B: {v}"
                  + (f" ({r:.2f}x)" if r is not None else ""))
    md.append("")

    with open(f"{a.out}/nats-summary.md", "w") as f:
        f.write("\n".join(md))
    with open(f"{a.out}/nats-summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0].keys()) if out
                           else ["topology"])
        w.writeheader()
        for s in out:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v)
                        for k, v in s.items()})
    print("\n".join(md[4:]))  # all but the title and the machine
    print(f"summary: {a.out}/nats-summary.md, {a.out}/nats-summary.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
