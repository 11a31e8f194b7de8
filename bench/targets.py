"""The targets a benchmark run is judged against, and the analysis generated from the run:
which targets it met or missed and by how much, with the figures that explain them.
Everything here is computed from one run's summary (report.summarize); nothing is quoted
from an earlier run."""

import math
import re

# Issue 15's bounds.
LIFECYCLE_RATIO = 0.80        # library p50 / Go client p50, pool off
LIFECYCLE_POOL_RATIO = 0.60   # library p50 / Go client p50, pool on
THROUGHPUT_POOL_RATIO = 1.30  # library / Go client containers/s at 8 workers, pool on
THROUGHPUT_RATIO = 1.00       # the same without the pool: not behind the Go client
THROUGHPUT_WORKERS = 8
EXEC_RATIO = 0.90             # exec p50, library / Go client
EXIT_P99_MS = 5.0             # the library's exit event, exited_at → delivered
EXIT_OVER_GO_MS = 1.0         # the library's exit p50/p99 over the Go client's Wait
RSS_MIB = 30.0                # library process RSS with the density count
RSS_SLOPE_KIB = 64.0          # RSS per container (least squares)
RSS_R2 = 0.90                 # how well a line fits the RSS curve
RSS_SECOND_CYCLE = 0.25       # second cycle's peak over the first's, / the first's growth
POOL_PEER = "rust-pool"       # the Rust driver with the shim pool on (when the run has it)

# Bounds from earlier issues, still checked.
CTR_RATIO = 0.75
BOUNDARY_LIMIT_NS = {"c": 100, "go": 1000, "python": 5000}
BOUNDARY_LABELS = {"rust": "Rust", "c": "C", "go": "Go (cgo)", "python": "Python (ctypes)"}


def nan(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def g(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return float("nan")
        d = d.get(k)
    return float("nan") if d is None else d


def ratio(a, b):
    if nan(a) or nan(b) or not b:
        return float("nan")
    return a / b


def target(name, value, op, bound, unit, detail="", missing=""):
    """One judged target: met is None when the run did not measure it (`missing` says why)."""
    met = None if nan(value) else (value <= bound if op == "≤" else value >= bound)
    return {"target": name, "value": value, "op": op, "bound": bound, "unit": unit, "met": met,
            "detail": detail, "missing": missing or ("not measured in this run" if met is None else "")}


def show(v, unit):
    if nan(v):
        return "–"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "ms":
        return f"{v:.2f} ms"
    if unit == "+ms":
        return f"{v:+.2f} ms"
    if unit == "":
        return f"{v:.2f}"
    return f"{v:.1f} {unit}"


def margin(t):
    """How far the measured value is from the bound, in the target's unit (positive: headroom)."""
    if t["met"] is None:
        return float("nan")
    d = t["bound"] - t["value"] if t["op"] == "≤" else t["value"] - t["bound"]
    return d


def issue15(s):
    """Issue 15's targets, judged on this run's summary."""
    t = []
    lc = s.get("lifecycle", {})
    go50 = g(lc, "go", "p50")
    for peer, label in (("rust", "Rust API"), ("c", "C ABI")):
        t.append(target(f"lifecycle p50, {label} / Go client (pool off)", ratio(g(lc, peer, "p50"), go50),
                        "≤", LIFECYCLE_RATIO, "x",
                        f"{g(lc, peer, 'p50'):.1f} ms against {go50:.1f} ms, both to the deletion"))
    pool = ratio(g(lc, POOL_PEER, "p50"), go50)
    t.append(target("lifecycle p50, Rust API with the shim pool / Go client", pool, "≤", LIFECYCLE_POOL_RATIO, "x",
                    missing=f"no `{POOL_PEER}` peer in this run"))
    tp = s.get("throughput", {})
    w = THROUGHPUT_WORKERS
    at = tp.get(w, {})
    why = f"no {w}-worker batch in this run"
    t.append(target(f"throughput at {w} workers, Rust API with the shim pool / Go client",
                    ratio(at.get(POOL_PEER), at.get("go")), "≥", THROUGHPUT_POOL_RATIO, "x",
                    missing=why if w not in tp else f"no `{POOL_PEER}` peer in this run"))
    t.append(target(f"throughput at {w} workers, Rust API / Go client (pool off: not behind)",
                    ratio(at.get("rust"), at.get("go")), "≥", THROUGHPUT_RATIO, "x",
                    f"{g(at, 'rust'):.1f} against {g(at, 'go'):.1f} containers/s" if w in tp else "", missing=why))
    ex = s.get("exec", {})
    t.append(target("exec p50, Rust API / Go client", ratio(g(ex, "rust", "p50"), g(ex, "go", "p50")), "≤",
                    EXEC_RATIO, "x", f"{g(ex, 'rust', 'p50'):.1f} ms against {g(ex, 'go', 'p50'):.1f} ms"))
    ev = s.get("exit_event", {})
    for peer, label in (("rust", "Rust API"), ("c", "C ABI")):
        t.append(target(f"exit event p99, {label} (exited_at → exit delivered)", g(ev, peer, "p99"), "≤",
                        EXIT_P99_MS, "ms"))
    for p in ("p50", "p99"):
        d = g(ev, "rust", p) - g(ev, "go", p)
        t.append(target(f"exit event {p}, Rust API over the Go client's Wait", d, "≤", EXIT_OVER_GO_MS, "+ms",
                        f"{g(ev, 'rust', p):.2f} ms against {g(ev, 'go', p):.2f} ms"))
    dn = s.get("density")
    if dn:
        n = dn["count"]
        t.append(target(f"library RSS with {n} containers (target: 200)", dn["rss_full_mib"], "≤", RSS_MIB, "MiB"))
        t.append(target("RSS per container (least-squares slope)", dn["slope_kib"], "≤", RSS_SLOPE_KIB, "KiB"))
        enough = dn["points"] >= 3
        t.append(target(f"RSS curve is a line (R² over {dn['points']} points)", dn["r2"] if enough else float("nan"),
                        "≥", RSS_R2, "", missing="fewer than 3 points on the curve"))
        t.append(target("second cycle's RSS peak over the first's, / the first cycle's growth",
                        dn.get("second_cycle_share", float("nan")), "≤", RSS_SECOND_CYCLE, "",
                        f"{dn.get('second_cycle_kib', float('nan')):+.0f} KiB against a growth of "
                        f"{dn.get('first_growth_kib', float('nan')):.0f} KiB",
                        missing="no second cycle, or no growth in the first"))
    else:
        t.append(target("library RSS with 200 containers", float("nan"), "≤", RSS_MIB, "MiB"))
    return t


def earlier(s):
    """Bounds set by earlier issues, still checked (not issue 15's targets)."""
    t = []
    lc = s.get("lifecycle", {})
    t.append(target("lifecycle p50, Rust API / `ctr run --rm`", ratio(g(lc, "rust", "p50"), g(lc, "ctr", "p50")),
                    "≤", CTR_RATIO, "x"))
    so = s.get("stdout", {})
    t.append(target("stdout, library / Go client", ratio(so.get("rust"), so.get("go")), "≥", 1.0, "x"))
    t.append(target("stdout, library / raw fifo read", ratio(so.get("rust"), so.get("fifo-raw")), "≥", 0.95, "x"))
    bd = s.get("boundary", {})
    for p, limit in BOUNDARY_LIMIT_NS.items():
        dv = g(bd, p, "version_ns") - g(bd, "rust", "version_ns")
        t.append(target(f"boundary cost of `lcd_version`, {BOUNDARY_LABELS[p]} over Rust", dv, "≤", limit, "ns"))
    return t


def verdict(t):
    return {True: "met", False: "**missed**", None: "not measured"}[t["met"]]


def table(ts):
    out = ["| target | measured | bound | verdict | margin (negative: missed by) |", "|---|---:|---:|---|---:|"]
    for t in ts:
        m = margin(t)
        unit = "ms" if t["unit"] == "+ms" else t["unit"]
        out.append(f"| {t['target']} | {show(t['value'], t['unit'])} | {t['op']} {show(t['bound'], t['unit'])} | "
                   f"{verdict(t)} | {'–' if nan(m) else show(m, unit if unit != '+ms' else 'ms')} |")
    return out


def analysis(data, s):
    """The generated analysis (Markdown lines): verdicts and the figures behind them."""
    m = data["machine"]
    ts = s["targets"]
    measured = [t for t in ts if t["met"] is not None]
    missed = [t for t in measured if not t["met"]]
    out = []
    if data.get("smoke"):
        out += ["This is a smoke run (a few iterations of each workload): the verdicts are computed as for",
                "a full run but judge nothing.", ""]
    load = max(float(m["loadavg_before"][0]), float(m["loadavg_after"][0]))
    out.append(f"Load average during the run: {' '.join(m['loadavg_before'])} before, "
               f"{' '.join(m['loadavg_after'])} after, on {m['cpus']} CPUs"
               + (" (busier than the machine has CPUs: absolute times are inflated)." if load > m["cpus"] else "."))
    out.append("")
    out.append(f"**Issue 15's targets:** {len(measured)} of {len(ts)} measured in this run; "
               f"{len(measured) - len(missed)} met, {len(missed)} missed.")
    out.append("")
    for t in missed:
        out.append(f"- Missed: {t['target']}: {show(t['value'], t['unit'])} against {t['op']} "
                   f"{show(t['bound'], t['unit'])}, by {show(-margin(t), 'ms' if t['unit'] == '+ms' else t['unit'])}"
                   + (f" ({t['detail']})." if t["detail"] else "."))
    for t in measured:
        if t["met"]:
            out.append(f"- Met: {t['target']}: {show(t['value'], t['unit'])} against {t['op']} "
                       f"{show(t['bound'], t['unit'])}" + (f" ({t['detail']})." if t["detail"] else "."))
    for t in ts:
        if t["met"] is None:
            out.append(f"- Not measured: {t['target']}: {t['missing']}.")
    out.append("")
    out += observations(s)
    return out


def observations(s):
    """Figures of this run that explain the verdicts."""
    out = []
    lc = s.get("lifecycle", {})
    ex = s.get("lifecycle_exit", {})
    if lc.get("rust") and ex.get("rust"):
        out.append(f"- Where a library lifecycle's time goes (p50 from the create): the Rust driver's `exit` at "
                   f"{g(ex, 'rust', 'p50'):.1f} ms, the deletion of task and container seen at "
                   f"{g(lc, 'rust', 'p50'):.1f} ms; the difference is containerd removing the task (its shim "
                   "stopping) and the record.")
    if lc.get("runc") and lc.get("go"):
        out.append(f"- The floor: `runc run` (no containerd, no shim) took {ratio(g(lc, 'runc', 'p50'), g(lc, 'go', 'p50')):.2f}x "
                   "the Go client's p50 lifecycle.")
    tp = s.get("throughput", {})
    if tp:
        rs = ", ".join(f"{ratio(tp[w].get('rust'), tp[w].get('go')):.2f}x at {w} worker{'s' if w > 1 else ''}"
                       for w in sorted(tp))
        out.append(f"- Throughput, Rust API / Go client: {rs}.")
    cpu = s.get("cpu", {})
    if cpu.get("rust") and cpu.get("go"):
        out.append(f"- CPU per sequential lifecycle: the Rust driver's process {cpu['rust']['client']:.2f} ms against the "
                   f"Go client's {cpu['go']['client']:.2f} ms; containerd {cpu['rust']['containerd']:.2f} ms against "
                   f"{cpu['go']['containerd']:.2f} ms.")
    ev = s.get("exit_event", {})
    if ev.get("rust") and ev.get("go"):
        out.append(f"- Exit seen (exited_at → host): library p50 {g(ev, 'rust', 'p50'):.2f} ms, p99 "
                   f"{g(ev, 'rust', 'p99'):.2f} ms; Go client's Wait p50 {g(ev, 'go', 'p50'):.2f} ms, p99 "
                   f"{g(ev, 'go', 'p99'):.2f} ms.")
    rp = s.get("reaped", {})
    if rp.get("rust") and rp.get("go"):
        out.append(f"- Deleted (exited_at → task and container gone, p50): library {g(rp, 'rust', 'p50'):.1f} ms, "
                   f"Go client {g(rp, 'go', 'p50'):.1f} ms.")
    dn = s.get("density")
    if dn:
        out.append(f"- Density: {dn['rss_full_mib']:.1f} MiB with {dn['count']} containers, "
                   f"{dn['slope_kib']:.1f} KiB per container (R² {dn['r2']:.2f} over {dn['points']} points); after all of them ended "
                   f"{dn['rss_after_kib'] / 1024:.1f} MiB.")
    if out:
        out.insert(0, "**Figures behind them (this run):**\n")
        out.append("")
    return out


# A figure with a unit, or a verdict: what the fixed prose (bench/NOTES.md) must not hold.
_FIGURE = re.compile(r"\d[\d.,]*\s*(?:ms|µs|us|ns|s|%|KiB|MiB|GiB|GB/s|x|×|containers/s)(?![\w/])")
_VERDICT = re.compile(r"\b(?:met|missed|meets|misses|beats?|wins?)\b", re.IGNORECASE)


def check_fixed_prose(text):
    """Lines of `text` that quote a figure or pass a verdict (code blocks excepted)."""
    bad = []
    code = False
    for i, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            code = not code
            continue
        if not code and (_FIGURE.search(line) or _VERDICT.search(line)):
            bad.append(f"{i}: {line.strip()}")
    return bad
