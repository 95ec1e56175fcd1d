#!/usr/bin/env python3
"""Turns the JSON that crates/bench/run.sh writes into the tables of docs/benchmarks.md and a
chart (SVG, no dependencies beyond Python 3).

    python3 crates/bench/report.py target/bench docs/benchmarks.svg
"""
import json
import math
import os
import re
import sys

SCENARIOS = ["noop", "get", "submit", "timeline", "report-card", "dashboard", "mix"]
BACKENDS = [("pg", "PostgreSQL"), ("sqlite", "SQLite")]
# p99 targets of the performance issue, in ms (open loop: a loaded, unsaturated server).
P99_TARGET_MS = {"get": 5, "submit": 15, "timeline": 10, "report-card": 10, "dashboard": 10}


def load(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def tables(out):
    lines = []
    base = load(out, "pgbench.json") or {}
    noop = (load(out, "pg-noop.json") or {}).get("throughput_per_s")
    sel, ins = base.get("pgbench_select_tps"), base.get("pgbench_insert_tps")
    if noop and sel:
        ceiling = 1 / (1 / noop + 1 / sel)
        lines.append(
            f"Baselines in the same run: noop {fmt(noop)} calls/s; `pgbench -S` {fmt(sel)} tps; "
            f"single-row INSERT {fmt(ins)} tps; combined `get` ceiling 1/(1/noop + 1/pgbench_select) = {fmt(ceiling)}/s."
        )
        lines.append("")
    lines.append("| Scenario | PG calls/s | PG p50 ms | PG p99 ms | SQLite calls/s | SQLite p50 ms | SQLite p99 ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for s in SCENARIOS:
        row = [s]
        for b, _ in BACKENDS:
            r = load(out, f"{b}-{s}.json")
            if r is None:
                row += ["—"] * 3
                continue
            assert r["errors"] == 0, f"{b} {s} had errors: not a result"
            row += [fmt(r["throughput_per_s"]), fmt(r["latency_us"]["p50"] / 1000, 1), fmt(r["latency_us"]["p99"] / 1000, 1)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Open loop (fixed arrival rate, see `LATENCY_RATE`): latency of a loaded server that keeps up.")
    lines.append("")
    lines.append("| Scenario | rate /s | PG p50 ms | PG p99 ms | SQLite p50 ms | SQLite p99 ms | p99 target ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for s in SCENARIOS:
        row, rate = [s], None
        for b, _ in BACKENDS:
            r = load(out, f"{b}-{s}-latency.json")
            if r is None:
                row += ["—"] * 2
                continue
            assert r["errors"] == 0, f"{b} {s} (open loop) had errors: not a result"
            rate = r["throughput_per_s"]
            row += [fmt(r["latency_us"]["p50"] / 1000, 2), fmt(r["latency_us"]["p99"] / 1000, 2)]
        if rate is None:
            continue
        row.insert(1, fmt(rate))
        row.append(str(P99_TARGET_MS.get(s, "—")))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("| Other figure | PostgreSQL | SQLite |")
    lines.append("|---|---:|---:|")
    rss = [load(out, f"{b}-mix-rss.json") for b, _ in BACKENDS]
    lines.append("| server RSS, max under `mix` | " + " | ".join(
        f"{r['rss_kib_max'] / 1024:.0f} MiB" if r else "—" for r in rss) + " |")
    start = [load(out, f"{b}-start.json") for b, _ in BACKENDS]
    lines.append("| start to SERVING | " + " | ".join(f"{r['start_to_serving_ms']} ms" if r else "—" for r in start) + " |")
    demo = []
    for b, _ in BACKENDS:
        path = os.path.join(out, f"{b}-demo.txt")
        m = None
        if os.path.exists(path):
            with open(path) as f:
                m = re.search(r"\(([0-9]+) contacts/s\)", f.read())
        demo.append(f"{int(m.group(1)):,} contacts/s" if m else "—")
    lines.append("| demo load, end to end | " + " | ".join(demo) + " |")
    return "\n".join(lines)


def svg(out, path):
    """Two panels: closed-loop throughput (log scale) and open-loop p99 against the targets."""
    colors = {"pg": "#336791", "sqlite": "#d98f1e"}
    width, bar, gap, left = 900, 11, 10, 110
    rows = [s for s in SCENARIOS if any(load(out, f"{b}-{s}.json") for b, _ in BACKENDS)]
    lat_rows = [s for s in SCENARIOS if any(load(out, f"{b}-{s}-latency.json") for b, _ in BACKENDS)]
    h1 = len(rows) * (2 * bar + gap) + 60
    h2 = len(lat_rows) * (2 * bar + gap) + 60
    height = h1 + h2 + 40
    e = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
         f'<rect width="{width}" height="{height}" fill="white"/>']
    panel_w = width - left - 140

    def x_log(v, lo=10, hi=100000):
        v = max(v, lo)
        return left + panel_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    e.append(f'<text x="{left}" y="20" font-size="14" font-weight="bold">Throughput, 64 calls in flight (calls/s, log scale)</text>')
    y = 40
    for s in rows:
        e.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{s}</text>')
        for i, (b, label) in enumerate(BACKENDS):
            r = load(out, f"{b}-{s}.json")
            if not r:
                continue
            v = r["throughput_per_s"]
            yy = y + i * bar
            e.append(f'<rect x="{left}" y="{yy}" width="{x_log(v) - left:.1f}" height="{bar - 1}" fill="{colors[b]}"/>')
            e.append(f'<text x="{x_log(v) + 4:.1f}" y="{yy + bar - 2}">{v:,.0f}</text>')
        y += 2 * bar + gap
    for t in [10, 100, 1000, 10000, 100000]:
        e.append(f'<line x1="{x_log(t):.1f}" y1="35" x2="{x_log(t):.1f}" y2="{y}" stroke="#ccc" stroke-dasharray="2,3"/>')
        e.append(f'<text x="{x_log(t):.1f}" y="{y + 12}" text-anchor="middle" fill="#666">{t:,}</text>')

    y0 = h1 + 30
    e.append(f'<text x="{left}" y="{y0}" font-size="14" font-weight="bold">p99 latency, open loop (ms; red tick: target)</text>')
    worst = max([1.0] + [load(out, f"{b}-{s}-latency.json")["latency_us"]["p99"] / 1000
                         for s in lat_rows for b, _ in BACKENDS if load(out, f"{b}-{s}-latency.json")])
    hi = max(20.0, worst * 1.1)

    def x_lin(v):
        return left + panel_w * min(v, hi) / hi

    y = y0 + 20
    for s in lat_rows:
        e.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{s}</text>')
        for i, (b, label) in enumerate(BACKENDS):
            r = load(out, f"{b}-{s}-latency.json")
            if not r:
                continue
            v = r["latency_us"]["p99"] / 1000
            yy = y + i * bar
            e.append(f'<rect x="{left}" y="{yy}" width="{x_lin(v) - left:.1f}" height="{bar - 1}" fill="{colors[b]}"/>')
            e.append(f'<text x="{x_lin(v) + 4:.1f}" y="{yy + bar - 2}">{v:.1f}</text>')
        if s in P99_TARGET_MS:
            tx = x_lin(P99_TARGET_MS[s])
            e.append(f'<line x1="{tx:.1f}" y1="{y - 2}" x2="{tx:.1f}" y2="{y + 2 * bar}" stroke="red" stroke-width="2"/>')
        y += 2 * bar + gap
    lx = width - 130
    for i, (b, label) in enumerate(BACKENDS):
        e.append(f'<rect x="{lx}" y="{40 + i * 18}" width="12" height="12" fill="{colors[b]}"/>')
        e.append(f'<text x="{lx + 18}" y="{50 + i * 18}">{label}</text>')
    e.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    print(tables(out))
    if len(sys.argv) > 2:
        svg(out, sys.argv[2])


if __name__ == "__main__":
    main()
