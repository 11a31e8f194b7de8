#!/usr/bin/env python3
"""Profiles sequential lifecycles of the library RPC by RPC (`lcd_bench profile`).

Starts a private containerd as bench/run.py does, runs `lcd_bench profile` without and
with the shim pool, and prints each table of steps (µs since `create`, medians; see
bench/profile.rs). Needs root and the built `lcd_bench` example.

With --workers W it instead measures the library's lifecycle throughput with W workers
for each shim pool size of --pools (0: no pool), on the same daemon, interleaved.

Usage: profile.py [--iters N] [--pool N] [--workers W --pools 0,2,4,8 --rounds R]
                  [--rootfs DIR] [--json FILE]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the harness's daemon and spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--pool", type=int, default=run.SHIM_POOL)
    ap.add_argument("--rootfs", default=os.environ.get("LCD_TEST_ROOTFS") or os.path.join(run.ROOT, "build", "rootfs"))
    ap.add_argument("--tmpdir", default=os.environ.get("LCD_TEST_TMPDIR") or "/tmp")
    ap.add_argument("--json", help="write the tables (or rates) here")
    ap.add_argument("--workers", type=int, default=0, help="measure throughput with this many workers")
    ap.add_argument("--pools", default="0,2,4,8", help="shim pool sizes for --workers")
    ap.add_argument("--rounds", type=int, default=2, help="rounds for --workers")
    args = ap.parse_args()
    state = tempfile.mkdtemp(prefix="lcdP-", dir=args.tmpdir)
    os.chmod(state, 0o700)
    daemon = run.Daemon(state)
    out = {}
    try:
        spec = os.path.join(state, "spec.json")
        with open(spec, "w") as f:
            json.dump(run.busybox_spec(os.path.realpath(args.rootfs), ["/bin/true"]), f)
        if args.workers:
            out = throughput(args, daemon, state, spec)
            return
        for pool in (0, args.pool):
            name = f"pool {pool}" if pool else "no pool"
            sd = os.path.join(state, f"rs{pool}")
            os.makedirs(sd)
            cmd = [os.path.join(run.ROOT, "target", "release", "examples", "lcd_bench"), "profile",
                   "--socket", daemon.socket, "--state-dir", sd, "--spec", spec, "--namespace", f"prof{pool}",
                   "--prefix", f"p{pool}", "--iters", str(args.iters), "--shim-pool", str(pool)]
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise SystemExit(f"lcd_bench profile failed: {p.stderr[-2000:]}")
            print(f"### {name}\n\n{p.stderr.strip()}\n")
            out[name] = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        daemon.stop()
        shutil.rmtree(state, ignore_errors=True)
        if args.json and out:
            with open(args.json, "w") as f:
                json.dump(out, f)


def throughput(args, daemon, state, spec):
    """Containers per second with `args.workers` workers per pool size, rounds interleaved."""
    pools = [int(x) for x in args.pools.split(",")]
    out = {str(p): [] for p in pools}
    for r in range(args.rounds):
        for pool in pools[r % len(pools):] + pools[:r % len(pools)]:
            sd = os.path.join(state, f"tp{pool}-{r}")
            os.makedirs(sd)
            cmd = [os.path.join(run.ROOT, "target", "release", "examples", "lcd_bench"), "lifecycle",
                   "--socket", daemon.socket, "--state-dir", sd, "--spec", spec, "--namespace", f"tp{pool}",
                   "--prefix", f"t{pool}x{r}", "--iters", str(8 * args.workers), "--workers", str(args.workers),
                   "--shim-pool", str(pool)]
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"lcd_bench lifecycle failed: {p.stderr[-2000:]}")
            res = json.loads(p.stdout.strip().splitlines()[-1])
            out[str(pool)].append(res["n"] / res["elapsed_s"])
    print(f"| shim pool | containers/s with {args.workers} workers (each round) |\n|---|---|")
    for pool, rates in out.items():
        print(f"| {pool} | {', '.join(f'{x:.1f}' for x in rates)} |")
    return out


if __name__ == "__main__":
    main()
