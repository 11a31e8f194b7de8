"""Turns the harness's raw results (bench/run.py) into medians, ratios, the console
tables, docs/BENCHMARKS.md and the PNG chart; the verdicts and the generated analysis
come from bench/targets.py, the fixed explanations from bench/NOTES.md."""

import json
import math
import os
import statistics

import report_images as images
import targets as tg

LIFECYCLE_LABELS = {
    "rust": "library, Rust API",
    "c": "library, C ABI",
    "go": "Go client v2 (fifo io)",
    "go-null": "Go client v2 (NullIO)",
    "ctr": "ctr run --rm",
    "runc": "runc run (floor)",
    "rust-group": "library, shared shim (group annotation)",
    "go-group": "Go client, shared shim (group annotation)",
    "rust-pool": "library, shim pool",
    "c-pool": "library, C ABI, shim pool",
}
# Where each lifecycle peer's time ends (every one after the task and container are deleted).
_LIB_END = "containerd's delete events for task and container received"
TIMED_TO = {
    "rust": _LIB_END,
    "c": _LIB_END + ", through the watcher process",
    "go": "`Container.Delete` returned",
    "go-null": "`Container.Delete` returned",
    "ctr": "`ctr run --rm` exited",
    "runc": "`runc run` exited (no containerd)",
    "rust-group": _LIB_END,
    "go-group": "`Container.Delete` returned",
    "rust-pool": _LIB_END,
    "c-pool": _LIB_END + ", through the watcher process",
}
EXEC_LABELS = {"rust": "library, Rust API", "go": "Go client v2 (fifo io)", "go-null": "Go client v2 (NullIO)",
               "ctr": "ctr task exec"}
# Where each exec peer's time ends (every one after the exec process is deleted).
EXEC_TIMED_TO = {"rust": "`exit-process` delivered (the library deletes the exec before it reports)",
                 "go": "`Process.Delete` returned", "go-null": "`Process.Delete` returned",
                 "ctr": "`ctr task exec` exited"}
STDOUT_LABELS = {"rust": "library fd", "go": "Go client v2 (cio)", "fifo-raw": "raw read of the shim's fifo",
                 "ctr": "ctr run, piped to a reader", "runc": "runc run, piped to a reader (no shim)",
                 "host-pipe": "dd piped to a reader on the host (no container)"}
BOUNDARY_LABELS = tg.BOUNDARY_LABELS


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


ratio = tg.ratio
g = tg.g


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
        sq = lc["sequential"]
        # Results of drivers older than the deletion watcher were timed to `exit`.
        s["library_to_deletion"] = all("reaped_ms" in b for p in ("rust", "c") for b in ok_batches(sq.get(p, [])))
        s["lifecycle_exit"] = {p: dist(concat(sq[p], "exit_ms")) for p in ("rust", "c") if p in sq}
        s["exit_event"] = {p: dist(concat(sq[p], k)) for p, k in
                           (("rust", "event_ms"), ("c", "event_ms"), ("go", "exit_seen_ms")) if p in sq}
        s["reaped"] = {p: dist(concat(sq[p], "reaped_ms")) for p in ("rust", "c", "go") if p in sq}
        ev = {}
        for p, what in (("rust", "exit delivered"), ("c", "exit delivered"), ("go", "`Wait` returned")):
            if s["exit_event"].get(p):
                ev[f"{p}: exited_at → {what}"] = s["exit_event"][p]
        for p, what in (("rust", "delete events received"), ("c", "delete events received (watcher)"),
                        ("go", "`Container.Delete` returned")):
            if s["reaped"].get(p):
                ev[f"{p}: exited_at → task and container deleted, {what}"] = s["reaped"][p]
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
        s["density"] = dict(dn, slope_kib=slope * 1024, r2=r2, rss_full_mib=dn["rss_full_kib"] / 1024.0,
                            points=len(curve))
        growth = dn["rss_full_kib"] - dn["rss_client_kib"]
        if "rss_full2_kib" in dn:
            extra = dn["rss_full2_kib"] - dn["rss_full_kib"]
            s["density"].update(first_growth_kib=growth, second_cycle_kib=extra,
                                second_cycle_share=extra / growth if growth > 0 else float("nan"))
    s["targets"] = tg.issue15(s)
    s["earlier_targets"] = tg.earlier(s)
    s["images"] = images.summarize(r.get("images"))
    s["image_targets"] = images.targets(s["images"]) if s["images"] else []
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
        out.append("### Lifecycle: create → start → exit → task and container deleted, `/bin/true`\n")
        out.append("Every time below runs from the create to the point in \"timed to\"; throughput is containers")
        out.append("per second over a batch whose wall time ends when its last container is deleted.\n")
        out.append("| peer | timed to | p50 ms | p90 ms | p99 ms | n | p50 / Go | "
                   + " | ".join(f"{w}w c/s" for w in ws) + " |")
        out.append("|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(ws))
        for p, d in lc.items():
            if not d:
                continue
            to = TIMED_TO.get(p, "?")
            if to.startswith(_LIB_END) and not s.get("library_to_deletion", True):
                to = "`exit` delivered (an older driver: not timed to the deletion)"
            out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {to} | {fmt(d['p50'])} | {fmt(d['p90'])} | "
                       f"{fmt(d['p99'])} | {d['n']} | {fmt(ratio(d['p50'], go), 2)} | "
                       + " | ".join(fmt(tp[w].get(p)) for w in ws) + " |")
        out.append("")
        le = s.get("lifecycle_exit", {})
        if any(le.values()):
            out.append("The library's `exit` report inside those lifecycles (create → `exit` delivered; the")
            out.append("deletion follows it):\n")
            out.append("| peer | p50 ms | p90 ms | p99 ms | n |")
            out.append("|---|---:|---:|---:|---:|")
            for p, d in le.items():
                if d:
                    out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {fmt(d['p50'])} | {fmt(d['p90'])} | "
                               f"{fmt(d['p99'])} | {d['n']} |")
            out.append("")
        cpu = s.get("cpu")
        if cpu:
            out.append("CPU time per sequential lifecycle, up to the deletion (client process: for the Rust")
            out.append("driver including its in-process deletion watcher, for the C driver excluding its watcher")
            out.append("process; containerd itself; the shim and runc are not counted):\n")
            out.append("| peer | client ms | containerd ms |")
            out.append("|---|---:|---:|")
            for p, d in cpu.items():
                out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {fmt(d['client'], 2)} | {fmt(d['containerd'], 2)} |")
            out.append("")
    ex = s.get("exec")
    if ex:
        go = g(ex, "go", "p50")
        out.append("### Exec round trip of `true` in a running container\n")
        out.append("| peer | timed to | p50 ms | p90 ms | p99 ms | n | p50 / Go |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for p, d in ex.items():
            if d:
                out.append(f"| {EXEC_LABELS.get(p, p)} | {EXEC_TIMED_TO.get(p, '?')} | {fmt(d['p50'])} | "
                           f"{fmt(d['p90'])} | {fmt(d['p99'])} | {d['n']} | {fmt(ratio(d['p50'], go), 2)} |")
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
        out.append("Wall clock when the host saw the event minus containerd's `exited_at`; the exit rows compare")
        out.append("the library's `exit` report with the Go client's `Wait`, the deletion rows the same iterations")
        out.append("up to the removal of task and container.\n")
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
        gone = "exited and were deleted" if "removed_s" in dn else "exited"
        out.append(f"| … after all {gone} | {fmt(dn['rss_after_kib'] / 1024)} MiB |")
        if "rss_after2_kib" in dn:
            out.append(f"| … with {dn['count']} containers again (second cycle) | {fmt(dn['rss_full2_kib'] / 1024)} MiB |")
            out.append(f"| … after all of those {gone} | {fmt(dn['rss_after2_kib'] / 1024)} MiB |")
        out.append(f"| create all, sequentially | {fmt(dn['create_s'], 2)} s |")
        out.append(f"| `list` over all | {fmt(dn['list_ms'], 2)} ms |")
        out.append(f"| `stats` of each, all | {fmt(dn['stats_all_ms'], 1)} ms |")
        out.append(f"| SIGKILL all and see every exit | {fmt(dn['teardown_s'], 2)} s |")
        if "removed_s" in dn:
            out.append(f"| … and every deletion (task and container) | {fmt(dn['removed_s'], 2)} s |")
        out.append("")
    out += images.tables(s.get("images"))
    t = s.get("targets")
    if t:
        out.append("### Targets (issue 15)\n")
        out += tg.table(t)
        out.append("")
    t = s.get("image_targets")
    if t:
        out.append("### Targets (issue 13, images)\n")
        out += tg.table(t)
        out.append("")
    t = s.get("earlier_targets")
    if t:
        out.append("### Bounds from earlier issues, still checked\n")
        out += tg.table(t)
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
        "<!-- Generated by scripts/bench.sh (bench/run.py, bench/report.py). The verdicts and the",
        "     analysis are computed from this run (bench/targets.py); the notes at the end are fixed",
        "     explanations from bench/NOTES.md, which quote no figures. Do not edit by hand. -->",
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
        "  task and container, each iteration with an id of its own. Every peer is timed to the",
        "  deletion. The library reports `exit` once the output is handed over and has containerd",
        "  delete the task and the container right after, so its drivers watch containerd's",
        "  `/tasks/delete` and `/containers/delete` events (the Rust driver on a connection of its",
        "  own, the C driver through a helper process, `lcd_bench watch-deletes`, since the C ABI",
        "  has no view of the deletion) and end the iteration when both have arrived; the time to",
        "  `exit` is recorded on the side. The Go client's iteration ends when `Container.Delete`",
        "  returns. `go-null` is the same Go code with `cio.NullIO`, as `containerd-stress` does.",
        "  `ctr` and `runc` are timed as whole commands (process spawn included: that is what using",
        "  them costs).",
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
        "- Event latency: wall clock when the host sees the exit (the library's `exit` report, the Go",
        "  client's `Wait`) or the deletion, minus containerd's `exited_at`, from the sequential",
        "  lifecycles.",
        "- Boundary: median over 7 batches of the time per call of `lcd_version` and of `list` on an",
        "  empty namespace, from Rust (the same functions called as Rust), C, Go via cgo (a small",
        "  program calling the header directly) and Python via ctypes (loading the library directly).",
        f"- Density: {c['density']} `sleep` containers created one after another by one client; VmRSS of",
        "  the process every 25 containers; median of 5 `list` calls and of 3 passes of `stats` over",
        "  every container; then all killed and, before RSS is read again, all deleted; the whole",
        "  cycle twice.",
    ] + images.method(c) + [
        "",
        "## Results",
        "",
        tables(s),
        "## Analysis of this run",
        "",
        "Computed from the figures above by `bench/targets.py`.",
        "",
    ]
    lines += tg.analysis(data, s)
    lines += images.analysis(s.get("images"), s.get("image_targets", []))
    lines += ["", fixed_notes(notes), ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def fixed_notes(path):
    """bench/NOTES.md, refused if it quotes a figure or passes a verdict: those come from
    the run (targets.analysis), never from fixed prose."""
    with open(path) as f:
        text = f.read().rstrip()
    bad = tg.check_fixed_prose(text)
    if bad:
        raise SystemExit(f"{path} must not quote figures or verdicts (they come from the run):\n  "
                         + "\n  ".join(bad))
    return text


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
    ax.set_title("Lifecycle of /bin/true, create to deletion (lower is better)")
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
