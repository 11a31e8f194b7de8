"""Turns the harness's raw results (bench/run.py) into medians, ratios, the target
verdicts, the console table, docs/BENCHMARKS.md and the PNG chart."""

import json
import math
import os
import statistics

LIFECYCLE_LABELS = {
    "rust": "library, Rust API",
    "c": "library, C ABI",
    "go": "Go client v2 (fifo io)",
    "go-null": "Go client v2 (NullIO)",
    "ctr": "ctr run --rm",
    "runc": "runc run (floor)",
    "rust-group": "library, shared shim (group annotation)",
    "go-group": "Go client, shared shim (group annotation)",
}
EXEC_LABELS = {"rust": "library, Rust API", "go": "Go client v2 (fifo io)", "go-null": "Go client v2 (NullIO)",
               "ctr": "ctr task exec"}
STDOUT_LABELS = {"rust": "library fd", "go": "Go client v2 (cio)", "fifo-raw": "raw read of the shim's fifo",
                 "ctr": "ctr run, piped to a reader", "runc": "runc run, piped to a reader (no shim)",
                 "host-pipe": "dd piped to a reader on the host (no container)"}
BOUNDARY_LABELS = {"rust": "Rust", "c": "C", "go": "Go (cgo)", "python": "Python (ctypes)"}
BOUNDARY_LIMIT_NS = {"c": 100, "go": 1000, "python": 5000}


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def dist(values):
    if not values:
        return None
    return {"p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "mean": statistics.fmean(values), "n": len(values)}


def ok_batches(batches):
    return [b for b in batches if "error" not in b]


def concat(batches, key):
    out = []
    for b in ok_batches(batches):
        out.extend(b.get(key, []))
    return out


def med(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def ratio(a, b):
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return float("nan")
    return a / b


def summarize(data):
    r = data["results"]
    s = {"targets": []}
    lc = r.get("lifecycle")
    if lc:
        s["lifecycle"] = {p: dist(concat(b, "lat_ms")) for p, b in lc["sequential"].items()}
        s["throughput"] = {}
        for w, peers in lc["throughput"].items():
            s["throughput"][int(w)] = {
                p: med([b["n"] / b["elapsed_s"] for b in ok_batches(bs) if b.get("elapsed_s")])
                for p, bs in peers.items()}
        s["cpu"] = {}
        for p, bs in lc["sequential"].items():
            bs = [b for b in ok_batches(bs) if b.get("n")]
            if bs:
                n = sum(b["n"] for b in bs)
                s["cpu"][p] = {"client": sum(b.get("cpu_ms", float("nan")) for b in bs) / n,
                               "containerd": sum(b.get("containerd_cpu_ms", float("nan")) for b in bs) / n}
        ev = {}
        for peer, key in (("rust", "event_ms"), ("c", "event_ms")):
            if peer in lc["sequential"]:
                ev[f"{peer}: exited_at → exit delivered"] = dist(concat(lc["sequential"][peer], key))
        for key, what in (("exit_seen_ms", "Wait returns"), ("reaped_ms", "task+container deleted")):
            if "go" in lc["sequential"]:
                ev[f"go: exited_at → {what}"] = dist(concat(lc["sequential"]["go"], key))
        s["events"] = ev
    ex = r.get("exec")
    if ex:
        s["exec"] = {p: dist(concat(b, "lat_ms")) for p, b in ex.items()}
        if "rust" in ex:
            s.setdefault("events", {})["rust: exec exited_at → exit-process delivered"] = dist(
                concat(ex["rust"], "event_ms"))
    so = r.get("stdout")
    if so:
        s["stdout"] = {p: med([v for v in b if not isinstance(v, dict)]) for p, b in so.items()}
    bd = r.get("boundary")
    if bd:
        s["boundary"] = {p: {"version_ns": med([x["version_ns"] for x in ok_batches(b)]),
                             "list_ns": med([x["list_ns"] for x in ok_batches(b)])} for p, b in bd.items()}
    dn = r.get("density")
    if dn:
        curve = dn["curve"]
        xs = [c[0] for c in curve]
        ys = [c[1] / 1024.0 for c in curve]
        slope, r2 = linfit(xs, ys)
        s["density"] = dict(dn, slope_kib=slope * 1024, r2=r2, rss_full_mib=dn["rss_full_kib"] / 1024.0)
    s["targets"] = targets(s)
    return s


def linfit(xs, ys):
    n = len(xs)
    if n < 2:
        return float("nan"), float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx if sxx else float("nan")
    r2 = (sxy * sxy) / (sxx * syy) if sxx and syy else 1.0
    return slope, r2


def g(d, *keys):
    for k in keys:
        if d is None:
            return float("nan")
        d = d.get(k) if isinstance(d, dict) else None
    return float("nan") if d is None else d


def targets(s):
    t = []

    def add(name, measured, limit, met, note=""):
        t.append({"target": name, "measured": measured, "limit": limit,
                  "met": None if (isinstance(met, float) and math.isnan(met)) else met, "note": note})

    lc = s.get("lifecycle", {})
    for peer in ("rust", "c"):
        rr = ratio(g(lc, peer, "p50"), g(lc, "go", "p50"))
        add(f"lifecycle p50, {peer} / Go client", f"{rr:.2f}x", "≤ 1.00x", rr <= 1.0 if not math.isnan(rr) else rr)
    rc = ratio(g(lc, "rust", "p50"), g(lc, "ctr", "p50"))
    add("lifecycle p50, rust / ctr run --rm", f"{rc:.2f}x", "≤ 0.75x", rc <= 0.75 if not math.isnan(rc) else rc)
    tp = s.get("throughput", {})
    w = 4 if 4 in tp else (max(tp) if tp else None)
    if w:
        rt = ratio(tp[w].get("rust"), tp[w].get("go"))
        add(f"throughput at {w} workers, rust / Go client", f"{rt:.2f}x", "≥ 1.00x",
            rt >= 1.0 if not math.isnan(rt) else rt)
    ex = s.get("exec", {})
    re_ = ratio(g(ex, "rust", "p50"), g(ex, "go", "p50"))
    add("exec p50, rust / Go client", f"{re_:.2f}x", "≤ 1.00x", re_ <= 1.0 if not math.isnan(re_) else re_)
    so = s.get("stdout", {})
    r1 = ratio(so.get("rust"), so.get("go"))
    add("stdout, library / Go client", f"{r1:.2f}x", "≥ 1.00x", r1 >= 1.0 if not math.isnan(r1) else r1)
    r2 = ratio(so.get("rust"), so.get("fifo-raw"))
    add("stdout, library / raw fifo read", f"{r2:.2f}x", "≥ 0.95x", r2 >= 0.95 if not math.isnan(r2) else r2)
    ev = s.get("events", {}).get("rust: exited_at → exit delivered")
    if ev:
        add("event latency p50 (exit)", f"{ev['p50']:.2f} ms", "≤ 2 ms", ev["p50"] <= 2.0)
        add("event latency p99 (exit)", f"{ev['p99']:.2f} ms", "≤ 20 ms", ev["p99"] <= 20.0)
    bd = s.get("boundary", {})
    if "rust" in bd:
        for p, limit in BOUNDARY_LIMIT_NS.items():
            if p in bd:
                dv = bd[p]["version_ns"] - bd["rust"]["version_ns"]
                dl = bd[p]["list_ns"] - bd["rust"]["list_ns"]
                add(f"boundary cost, {BOUNDARY_LABELS[p]} over Rust", f"{dv:.0f} ns (list: {dl:+.0f} ns)",
                    f"≤ {limit} ns", dv <= limit,
                    "judged on lcd_version; the list difference is within the call's own noise")
    dn = s.get("density")
    if dn:
        add(f"library RSS with {dn['count']} containers", f"{dn['rss_full_mib']:.1f} MiB", "≤ 30 MiB",
            dn["rss_full_mib"] <= 30.0)
        add("RSS growth linear in containers", f"{dn['slope_kib']:.1f} KiB/container, R² {dn['r2']:.2f}",
            "linear", dn["r2"] >= 0.8 or dn["slope_kib"] < 16)
    return t


def fmt(v, nd=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{nd}f}"


def tables(s):
    """Markdown tables (also printed on the console)."""
    out = []
    lc = s.get("lifecycle")
    if lc:
        go = g(lc, "go", "p50")
        tp = s.get("throughput", {})
        ws = sorted(tp)
        out.append("### Lifecycle: create → start → wait for exit → delete, `/bin/true`\n")
        out.append("| peer | p50 ms | p90 ms | p99 ms | n | p50 / Go | "
                   + " | ".join(f"{w}w c/s" for w in ws) + " |")
        out.append("|---|---:|---:|---:|---:|---:|" + "---:|" * len(ws))
        for p, d in lc.items():
            if not d:
                continue
            out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {fmt(d['p50'])} | {fmt(d['p90'])} | {fmt(d['p99'])} | "
                       f"{d['n']} | {fmt(ratio(d['p50'], go), 2)} | "
                       + " | ".join(fmt(tp[w].get(p)) for w in ws) + " |")
        out.append("")
        cpu = s.get("cpu")
        if cpu:
            out.append("CPU time per sequential lifecycle (client process; containerd itself; the shim and")
            out.append("runc are not counted):\n")
            out.append("| peer | client ms | containerd ms |")
            out.append("|---|---:|---:|")
            for p, d in cpu.items():
                out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {fmt(d['client'], 2)} | {fmt(d['containerd'], 2)} |")
            out.append("")
    ex = s.get("exec")
    if ex:
        go = g(ex, "go", "p50")
        out.append("### Exec round trip of `true` in a running container\n")
        out.append("| peer | p50 ms | p90 ms | p99 ms | n | p50 / Go |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for p, d in ex.items():
            if d:
                out.append(f"| {EXEC_LABELS.get(p, p)} | {fmt(d['p50'])} | {fmt(d['p90'])} | {fmt(d['p99'])} | "
                           f"{d['n']} | {fmt(ratio(d['p50'], go), 2)} |")
        out.append("")
    so = s.get("stdout")
    if so:
        out.append("### Stdout: `dd` writes to stdout, first byte to last byte\n")
        out.append("| reader | GB/s (median) | / Go client | / raw fifo read |")
        out.append("|---|---:|---:|---:|")
        for p, v in so.items():
            out.append(f"| {STDOUT_LABELS.get(p, p)} | {fmt(v, 3)} | {fmt(ratio(v, so.get('go')), 2)} | "
                       f"{fmt(ratio(v, so.get('fifo-raw')), 2)} |")
        out.append("")
    ev = s.get("events")
    if ev:
        out.append("### Event latency: the process's `exited_at` to the host seeing it\n")
        out.append("| what | p50 ms | p90 ms | p99 ms | n |")
        out.append("|---|---:|---:|---:|---:|")
        for k, d in ev.items():
            if d:
                out.append(f"| {k} | {fmt(d['p50'], 2)} | {fmt(d['p90'], 2)} | {fmt(d['p99'], 2)} | {d['n']} |")
        out.append("")
    bd = s.get("boundary")
    if bd:
        rs = bd.get("rust", {})
        out.append("### Boundary cost of a cheap call\n")
        out.append("| caller | lcd_version ns | over Rust | list (empty namespace) µs | over Rust µs |")
        out.append("|---|---:|---:|---:|---:|")
        for p, d in bd.items():
            out.append(f"| {BOUNDARY_LABELS.get(p, p)} | {fmt(d['version_ns'])} | "
                       f"{fmt(d['version_ns'] - rs.get('version_ns', float('nan')))} | "
                       f"{fmt(d['list_ns'] / 1000, 1)} | {fmt((d['list_ns'] - rs.get('list_ns', float('nan'))) / 1000, 2)} |")
        out.append("")
    dn = s.get("density")
    if dn:
        out.append(f"### Density: {dn['count']} sleeping containers under one client\n")
        out.append("| measure | value |")
        out.append("|---|---:|")
        out.append(f"| library process RSS before connecting | {fmt(dn['rss_start_kib'] / 1024)} MiB |")
        out.append(f"| … with a client, no container | {fmt(dn['rss_client_kib'] / 1024)} MiB |")
        out.append(f"| … with {dn['count']} containers | {fmt(dn['rss_full_mib'])} MiB |")
        out.append(f"| growth per container (least squares) | {fmt(dn['slope_kib'])} KiB |")
        out.append(f"| … after all exited | {fmt(dn['rss_after_kib'] / 1024)} MiB |")
        if "rss_after2_kib" in dn:
            out.append(f"| … with {dn['count']} containers again (second cycle) | {fmt(dn['rss_full2_kib'] / 1024)} MiB |")
            out.append(f"| … after all of those exited | {fmt(dn['rss_after2_kib'] / 1024)} MiB |")
        out.append(f"| create all, sequentially | {fmt(dn['create_s'], 2)} s |")
        out.append(f"| `list` over all | {fmt(dn['list_ms'], 2)} ms |")
        out.append(f"| `stats` of each, all | {fmt(dn['stats_all_ms'], 1)} ms |")
        out.append(f"| SIGKILL all and see every exit | {fmt(dn['teardown_s'], 2)} s |")
        out.append("")
    t = s.get("targets")
    if t:
        out.append("### Targets\n")
        out.append("| target | measured | bound | verdict |")
        out.append("|---|---:|---:|---|")
        for x in t:
            verdict = {True: "met", False: "**missed**", None: "not measured"}[x["met"]]
            out.append(f"| {x['target']} | {x['measured']} | {x['limit']} | {verdict} |")
        out.append("")
    return "\n".join(out)


def console(s):
    return tables(s)


def errors(data):
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            if "error" in node:
                out.append(f"{path}: {node['error'][:300]}")
            if node.get("failures"):
                out.append(f"{path}: {node['failures']} failed iterations")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(data["results"], "results")
    return out


def write_markdown(data, s, path, chart_rel):
    m = data["machine"]
    c = data["config"]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "NOTES.md")
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench.sh (bench/run.py, bench/report.py); the analysis at the end",
        "     comes from bench/NOTES.md. Do not edit by hand. -->",
        "",
        "The library against the official containerd Go client, `ctr` and bare `runc`, measured side by",
        "side in one run on one machine, against one private containerd that the harness starts.",
        "Regenerate with `./scripts/bench.sh` (about "
        f"{max(1, round(data['duration_s'] / 60))} minutes here)." if not data["smoke"] else
        "Smoke run (a few iterations): not representative.",
        "",
        f"![benchmark chart]({chart_rel})",
        "",
        "## Machine and versions",
        "",
        f"- Run: {data['started']}, {data['duration_s']:.0f} s; load average before "
        f"{' '.join(m['loadavg_before'])}, after {' '.join(m['loadavg_after'])}",
        f"- CPU: {m['cpu']} ({m['cpus']} CPUs), memory {m['memory']}",
        f"- OS: {m['os']}, kernel {m['kernel']}, cgroups {m['cgroups']}",
        f"- containerd {m['containerd']}; {m['runc']}; {m['ctr']}",
        f"- Go client: github.com/containerd/containerd/v2 {m['go_client']} ({m['go']})",
        f"- {m['rustc']}; Python {m['python']}",
    ]
    if float(m["loadavg_before"][0]) > m["cpus"] or float(m["loadavg_after"][0]) > m["cpus"]:
        lines += [
            "",
            f"**Conditions:** other work kept this {m['cpus']}-CPU machine busy during the run (load averages",
            "above), so absolute times are inflated and single rounds are noisy. The peers ran interleaved,",
            "round by round, so their ratios are the meaningful part; re-run `./scripts/bench.sh` on a quiet",
            "machine for absolute figures.",
        ]
    lines += [
        "",
        "## Method",
        "",
        "- One containerd (CRI and unused plugins disabled, as the library configures its own) in a",
        "  temporary state directory; every peer talks to it over its socket, each in a namespace of",
        "  its own. Every container runs the same OCI spec: the busybox rootfs of the tests (a host",
        "  directory, no snapshotter, no image), read-only root, pid/ipc/uts/mount/network namespaces,",
        "  no network setup. `runc` runs that spec as a bundle; `ctr` gets it with `--config`.",
        "- Lifecycle: create the container and task with fifo stdio, start, wait for the exit, delete",
        "  task and container (the library reports `exit` once the output is handed over and has",
        "  containerd delete meanwhile; its drivers reuse one id per worker, and a create of that id",
        "  waits for the deletion, so each iteration pays for a whole lifecycle; an iteration ends",
        "  when `exit` arrives). `go-null` is the same Go code with `cio.NullIO`, as",
        "  `containerd-stress` does. `ctr` and `runc` are timed as whole commands (process spawn",
        "  included: that is what using them costs).",
        f"- Interleaving: {c['rounds']} rounds; each round runs every peer once ({c['seq_iters']} sequential",
        "  iterations), in an order rotated each round, so that load from elsewhere falls on all peers",
        f"  alike. Throughput: {c['tput_rounds']} rounds per worker count, {c['tput_per_worker']} iterations per worker,",
        "  median of the rounds' containers/s (total / wall time of the batch).",
        f"- Exec: a `sleep` container per peer, {c['exec_rounds']} rounds x {c['exec_iters']} execs of `/bin/true`",
        "  (exec, start, wait for its exit, delete).",
        f"- Stdout: `dd if=/dev/zero bs=1M count={c['stdout_mib']}` in the container; rate from the first byte",
        "  to the last, median of "
        f"{c['stdout_rounds']} rounds. Readers use 64 KiB reads except the Go client's `cio` (its own",
        "  32 KiB copy). The raw fifo read gives the shim fifo paths of its own and read(2)s the fifo:",
        "  the ceiling for any client of the shim.",
        "- Event latency: wall clock when the host sees the exit minus containerd's `exited_at`.",
        "- Boundary: median over 7 batches of the time per call of `lcd_version` and of `list` on an",
        "  empty namespace, from Rust (the same functions called as Rust), C, Go via cgo (a small",
        "  program calling the header directly) and Python via ctypes (loading the library directly).",
        f"- Density: {c['density']} `sleep` containers created one after another by one client; VmRSS of",
        "  the process every 25 containers; median of 5 `list` calls and of 3 passes of `stats` over",
        "  every container.",
        "",
        "## Results",
        "",
        tables(s),
    ]
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip(), ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_chart(s, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib missing: no chart (scripts/bench.sh installs it into build/bench-venv)")
        return
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    lc = s.get("lifecycle", {})
    ax = axes[0][0]
    names = [p for p in lc if lc[p]]
    ax.barh([LIFECYCLE_LABELS.get(p, p) for p in names], [lc[p]["p50"] for p in names],
            xerr=[[0] * len(names), [lc[p]["p90"] - lc[p]["p50"] for p in names]], color="tab:blue")
    ax.set_xlabel("ms (bar p50, whisker p90)")
    ax.set_title("Lifecycle latency of /bin/true (lower is better)")
    ax.invert_yaxis()
    ax = axes[0][1]
    tp = s.get("throughput", {})
    ws = sorted(tp)
    for p in names:
        ax.plot(ws, [tp[w].get(p, float("nan")) for w in ws], marker="o", label=LIFECYCLE_LABELS.get(p, p))
    ax.set_xlabel("workers")
    ax.set_ylabel("containers / s (log scale)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([t for t in (2, 5, 10, 20, 50, 100, 200, 500) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1] * 1.5])
    ax.set_xticks(ws)
    ax.set_title("Lifecycle throughput (higher is better)")
    ax.legend(fontsize=7)
    ax = axes[1][0]
    ex = s.get("exec", {})
    names = [p for p in ex if ex[p]]
    ax.barh([EXEC_LABELS.get(p, p) for p in names], [ex[p]["p50"] for p in names],
            xerr=[[0] * len(names), [ex[p]["p90"] - ex[p]["p50"] for p in names]], color="tab:green")
    ax.set_xlabel("ms (bar p50, whisker p90)")
    ax.set_title("Exec round trip of true (lower is better)")
    ax.invert_yaxis()
    ax = axes[1][1]
    so = s.get("stdout", {})
    ax.barh([STDOUT_LABELS.get(p, p) for p in so], [so[p] for p in so], color="tab:orange")
    ax.set_xlabel("GB/s")
    ax.set_title("Stdout throughput (higher is better)")
    ax.invert_yaxis()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    import sys
    with open(sys.argv[1]) as f:
        d = json.load(f)
    print(console(summarize(d)))
