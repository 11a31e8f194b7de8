"""The image part of the benchmark report (bench/images.py measures it): percentiles and
ratios of the pulls and of the lifecycles of containers from an image, their tables,
issue 13's targets judged on the run, and the lines of the generated analysis."""

import math

import targets as tg

# Issue 13's bounds.
PULL_RATIO = 1.0        # library pull + unpack p50 / ctr's and the Go client's
LIFECYCLE_RATIO = 1.0   # library lifecycle-from-an-image p50 / the Go client's
MIN_IMAGE_BYTES = 100 * 1000 * 1000  # the image the issue asks for: ≥ 100 MB ...
MIN_LAYERS = 3                       # ... in several layers

PULL_LABELS = {"rust": "library, Rust API (`Remote::pull_image`)",
               "go": "Go client v2 (`Client.Pull`, `WithPullUnpack`)",
               "ctr": "`ctr image pull`"}
LIFECYCLE_LABELS = {"rust": "library, Rust API", "go": "Go client v2"}
LIFECYCLE_TIMED_TO = {"rust": "containerd's delete events for task and container received, the snapshot gone",
                      "go": "`Container.Delete(WithSnapshotCleanup)` returned"}


def pct(values, p):
    """Nearest-rank percentile (as report.pct)."""
    v = sorted(values)
    if not v:
        return float("nan")
    return v[max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))]


def dist(values):
    if not values:
        return None
    return {"p50": pct(values, 50), "p95": pct(values, 95), "n": len(values)}


def concat(batches, key):
    out = []
    for b in batches:
        if "error" not in b:
            out.extend(b.get(key, []))
    return out


def summarize(res):
    """The image workload's results (run.py's `images`) → distributions; None if absent."""
    if not res:
        return None
    s = {"image": res.get("image", {})}
    s["pull"] = {p: {"call": dist(concat(b, "pull_ms")), "cmd": dist(concat(b, "cmd_ms")),
                     "connect": dist(concat(b, "connect_ms"))}
                 for p, b in res.get("pull", {}).items()}
    s["lifecycle"] = {p: dist(concat(b, "lat_ms")) for p, b in res.get("lifecycle", {}).items()}
    s["lifecycle_exit"] = {p: dist(concat(b, "exit_ms")) for p, b in res.get("lifecycle", {}).items()}
    return s


def full_size(s):
    """Why the image is not the one the issue's pull target needs ("" if it is)."""
    im = s.get("image", {})
    size, layers = im.get("uncompressed_bytes", 0), im.get("layers", 0)
    if size >= MIN_IMAGE_BYTES and layers >= MIN_LAYERS:
        return ""
    return (f"the image pulled ({size / 1e6:.1f} MB unpacked, {layers} layers) is not the multi-layer image "
            "of at least 100 MB the target is set for")


def targets(s):
    """Issue 13's targets on this run's image summary."""
    s = s or {}
    pl, lc = s.get("pull", {}), s.get("lifecycle", {})
    small = full_size(s) if s else "no image workload in this run"
    c = lambda p, k: tg.g(pl, p, k, "p50")  # noqa: E731
    t = [
        tg.target("pull + unpack p50, library / `ctr image pull` (whole commands)",
                  float("nan") if small else tg.ratio(c("rust", "cmd"), c("ctr", "cmd")), "≤", PULL_RATIO, "x",
                  f"{c('rust', 'cmd'):.0f} ms against {c('ctr', 'cmd'):.0f} ms", missing=small),
        tg.target("pull + unpack p50, library / Go client (the pull call)",
                  float("nan") if small else tg.ratio(c("rust", "call"), c("go", "call")), "≤", PULL_RATIO, "x",
                  f"{c('rust', 'call'):.0f} ms against {c('go', 'call'):.0f} ms", missing=small),
        tg.target("lifecycle from an image p50, library / Go client",
                  tg.ratio(tg.g(lc, "rust", "p50"), tg.g(lc, "go", "p50")), "≤", LIFECYCLE_RATIO, "x",
                  f"{tg.g(lc, 'rust', 'p50'):.1f} ms against {tg.g(lc, 'go', 'p50'):.1f} ms, both to the "
                  "snapshot's removal"),
    ]
    return t


def fmt(v, nd=1):
    return "–" if tg.nan(v) else f"{v:.{nd}f}"


def tables(s):
    """Markdown lines of the image tables (empty without an image workload)."""
    if not s:
        return []
    im = s["image"]
    out = [f"### Image pull + unpack: `{im.get('ref', '?')}`\n",
           f"{im.get('layers', '?')} layers, {im.get('compressed_bytes', 0) / 1e6:.1f} MB compressed, "
           f"{im.get('uncompressed_bytes', 0) / 1e6:.1f} MB unpacked, {im.get('downloads', '?')} blobs downloaded at "
           "once by every peer. Each pull starts with no blob, snapshot, lease or image left in containerd. "
           "\"Call\" is the pull function inside the driver's process; \"command\" the whole process "
           "(start, connect, pull, exit), as `ctr` can only be timed. \"Connect\" is the making of the "
           "client in the driver (`Remote::new`, which also opens the event subscription; the Go "
           "client's `containerd.New`).\n",
           "| peer | connect p50 ms | call p50 ms | call p95 ms | command p50 ms | command p95 ms | n | command p50 / ctr | "
           "call p50 / Go |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    pl = s.get("pull", {})
    ctr, go = tg.g(pl, "ctr", "cmd", "p50"), tg.g(pl, "go", "call", "p50")
    for p, d in pl.items():
        call, cmd, conn = d.get("call") or {}, d.get("cmd") or {}, d.get("connect") or {}
        out.append(f"| {PULL_LABELS.get(p, p)} | {fmt(conn.get('p50'), 1)} | {fmt(call.get('p50'), 0)} | {fmt(call.get('p95'), 0)} | "
                   f"{fmt(cmd.get('p50'), 0)} | {fmt(cmd.get('p95'), 0)} | {cmd.get('n', 0)} | "
                   f"{fmt(tg.ratio(cmd.get('p50'), ctr), 2)} | {fmt(tg.ratio(call.get('p50'), go), 2)} |")
    out.append("")
    lc = s.get("lifecycle", {})
    if lc:
        go = tg.g(lc, "go", "p50")
        out += ["### Lifecycle of a container from that image: create with a snapshot → start → exit → "
                "task, container and snapshot deleted\n",
                "| peer | timed to | p50 ms | p95 ms | n | p50 / Go | `exit` seen p50 ms |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for p, d in lc.items():
            if d:
                ex = (s.get("lifecycle_exit") or {}).get(p) or {}
                out.append(f"| {LIFECYCLE_LABELS.get(p, p)} | {LIFECYCLE_TIMED_TO.get(p, '?')} | {fmt(d['p50'])} | "
                           f"{fmt(d['p95'])} | {d['n']} | {fmt(tg.ratio(d['p50'], go), 2)} | {fmt(ex.get('p50'))} |")
        out.append("")
    return out


def method(c):
    """Lines of the report's method section."""
    return [f"- Images: a local registry (`scripts/test-registry.sh`) serves one image; after one untimed "
            f"warm-up pull per peer, {c.get('image_rounds', '?')} rounds, each running every peer's {c.get('image_pulls', '?')} pulls with unpack in a rotated order. Before "
            "each pull the image is removed with a synchronous garbage collection and the harness checks that no blob, "
            "snapshot, lease or image is left. Then the lifecycle of containers created from the image "
            f"({c.get('image_lc_iters', '?')} per peer and round, one at a time), the image pulled beforehand into each "
            "peer's namespace."]


def analysis(s, ts):
    """Lines of the generated analysis: issue 13's verdicts with their figures."""
    if not s:
        return []
    measured = [t for t in ts if t["met"] is not None]
    missed = [t for t in measured if not t["met"]]
    out = [f"**Issue 13's targets (images):** {len(measured)} of {len(ts)} measured in this run; "
           f"{len(measured) - len(missed)} met, {len(missed)} missed.", ""]
    for t in ts:
        if t["met"] is None:
            out.append(f"- Not measured: {t['target']}: {t['missing']}.")
        else:
            word = "Met" if t["met"] else "Missed"
            out.append(f"- {word}: {t['target']}: {tg.show(t['value'], t['unit'])} against {t['op']} "
                       f"{tg.show(t['bound'], t['unit'])}" + (f" ({t['detail']})." if t["detail"] else "."))
    im, pl = s.get("image", {}), s.get("pull", {})
    rates = []
    for p in ("rust", "go", "ctr"):
        v = tg.g(pl, p, "cmd", "p50")
        if not tg.nan(v) and v > 0 and im.get("uncompressed_bytes"):
            rates.append(f"{p} {im['uncompressed_bytes'] / 1e6 / (v / 1e3):.0f} MB/s")
    if rates:
        out.append(f"- Unpacked bytes per second of a whole pull command (p50): {', '.join(rates)}.")
    out.append("")
    return out
