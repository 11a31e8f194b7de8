#!/usr/bin/env python3
"""Side-by-side benchmark harness (scripts/bench.sh runs it).

Starts one private containerd in a temporary state directory, then measures, on that
daemon and in one run, the same workloads through:

  rust     the library's Rust API            (target/release/examples/lcd_bench)
  c        the library's C ABI               (build/bench/lcd_bench_c)
  go       containerd's Go client v2         (build/bench/go-client), fifo stdio
  go-null  the same with cio.NullIO          (what containerd-stress does)
  ctr      `ctr run --rm` / `ctr task exec`  (spawned per operation)
  runc     bare `runc run` on an equivalent bundle (the floor: no containerd at all)

Peers are interleaved round by round (each round runs every peer once, in a rotating
order) so that load from elsewhere on the machine hits all of them alike and the
ratios stay meaningful. Every lifecycle peer is timed to the same point: the task and
the container deleted (the library's drivers see containerd's delete events; the Go
client's Delete returns; ctr and runc exit). Results go to a JSON file, a Markdown
report and a PNG chart.

Usage: run.py [--smoke] [--out-dir DIR] [--report FILE] [--chart FILE]
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "bench")
GROUP_ANNOTATION = "io.containerd.runc.v2.group"
SHIM_POOL = 4  # shared shims of the `rust-pool` peer (the library's `shim_pool` remote option)

# Workload sizes: full run and smoke mode.
FULL = dict(rounds=5, seq_iters=40, workers=[1, 2, 4, 8], tput_rounds=3, tput_per_worker=15,
            exec_rounds=5, exec_iters=40, stdout_rounds=5, stdout_mib=1024, density=200,
            boundary_iters=2000, boundary_rounds=3, image_rounds=5, image_pulls=2, image_lc_iters=20)
# Fewer iterations of the same workloads (--reduced): for a loaded machine.
REDUCED = dict(rounds=3, seq_iters=20, workers=[1, 4, 8], tput_rounds=2, tput_per_worker=8,
               exec_rounds=3, exec_iters=20, stdout_rounds=3, stdout_mib=256, density=200,
               boundary_iters=1000, boundary_rounds=2, image_rounds=3, image_pulls=2, image_lc_iters=10)
SMOKE = dict(rounds=1, seq_iters=3, workers=[1, 2], tput_rounds=1, tput_per_worker=2,
             exec_rounds=1, exec_iters=3, stdout_rounds=1, stdout_mib=16, density=5,
             boundary_iters=50, boundary_rounds=1, image_rounds=1, image_pulls=1, image_lc_iters=2)


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def busybox_spec(rootfs, args):
    """The OCI spec every peer runs (the same as the integration tests' busybox spec)."""
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
            "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "network"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }


class Daemon:
    """A private containerd under `dir`, started and stopped by this harness."""

    def __init__(self, dir):
        self.dir = os.path.join(dir, "containerd")
        os.makedirs(self.dir, mode=0o700)
        self.socket = os.path.join(self.dir, "containerd.sock")
        config = os.path.join(self.dir, "config.toml")
        with open(config, "w") as f:
            f.write(f"""version = 2
root = {json.dumps(os.path.join(self.dir, "root"))}
state = {json.dumps(os.path.join(self.dir, "state"))}
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = {json.dumps(self.socket)}

[ttrpc]
  address = {json.dumps(self.socket + ".ttrpc")}

[metrics]
  address = ""

[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
""")
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        with open(os.path.join(self.dir, "containerd.pid"), "w") as f:
            f.write(str(self.proc.pid))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"containerd exited: see {self.dir}/containerd.log")
            if os.path.exists(self.socket) and self.ctr(["version"], check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("containerd did not answer within 30 s")

    def cpu_ms(self):
        """CPU time (user + system) containerd has used so far, in ms."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")

    def ctr(self, args, check=True, ns=None, **kw):
        cmd = ["ctr", "--address", self.socket] + (["-n", ns] if ns else []) + args
        return subprocess.run(cmd, check=check, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)

    def version(self):
        out = self.ctr(["version"]).stdout
        server = out.split("Server:")[-1]
        for line in server.splitlines():
            if line.strip().startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return "?"

    def clean_namespace(self, ns):
        """Removes whatever a peer left in its namespace (after a failure)."""
        for id in self.ctr(["tasks", "ls", "-q"], check=False, ns=ns).stdout.split():
            self.ctr(["tasks", "kill", "-a", "-s", "SIGKILL", id], check=False, ns=ns)
            self.ctr(["tasks", "delete", "-f", id], check=False, ns=ns, timeout=30)
        for id in self.ctr(["containers", "ls", "-q"], check=False, ns=ns).stdout.split():
            self.ctr(["containers", "delete", id], check=False, ns=ns)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Harness:
    def __init__(self, args, cfg, state):
        self.args = args
        self.cfg = cfg
        self.state = state
        self.rootfs = os.path.realpath(args.rootfs)
        self.lib = os.path.realpath(args.lib)
        self.daemon = Daemon(state)
        self.seq = 0
        self.specs = {}
        for name, argv in {"true": ["/bin/true"], "sleep": ["/bin/sleep", "3600"],
                           "dd": ["/bin/dd", "if=/dev/zero", "bs=1M", f"count={cfg['stdout_mib']}"]}.items():
            for group in (False, True):
                spec = busybox_spec(self.rootfs, argv)
                if group:
                    spec["annotations"] = {GROUP_ANNOTATION: "bench"}
                path = os.path.join(state, f"spec-{name}{'-group' if group else ''}.json")
                with open(path, "w") as f:
                    json.dump(spec, f)
                self.specs[(name, group)] = path
        # runc bundles: config.json next to nothing else (root.path is absolute).
        self.bundles = {}
        for name in ("true", "dd"):
            b = os.path.join(state, f"bundle-{name}")
            os.makedirs(b)
            shutil.copy(self.specs[(name, False)], os.path.join(b, "config.json"))
            self.bundles[name] = b
        for d in ("rs", "c", "go", "ctr", "runc", "empty"):
            os.makedirs(os.path.join(state, d), exist_ok=True)

    def uid(self, peer):
        self.seq += 1
        return f"{peer}{self.seq}"

    # ----------------------------------------------------------------- peer drivers

    def run_json(self, cmd, timeout=1800):
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({p.returncode}): {p.stderr[-2000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def rust(self, mode, ns="lcdbench-rs", group=False, pool=0, **kw):
        spec = self.specs[("true", group)]
        cmd = [os.path.join(ROOT, "target", "release", "examples", "lcd_bench"), mode,
               "--socket", self.daemon.socket, "--state-dir", os.path.join(self.state, "rs"),
               "--spec", spec, "--namespace", ns, "--prefix", self.uid("r")]
        if group:
            cmd += ["--group", "1"]
        if pool:
            cmd += ["--shim-pool", str(pool)]
        for k, v in kw.items():
            cmd += [f"--{k}", str(v)]
        return self.run_json(cmd)

    def c(self, mode, iters, workers=1, ns="lcdbench-c"):
        cmd = [os.path.join(BUILD, "lcd_bench_c"), mode, self.daemon.socket, os.path.join(self.state, "c"),
               self.specs[("true", False)], ns, self.uid("c"), str(iters), str(workers),
               # The deletion watcher the C driver reads (the C ABI cannot see deletions).
               os.path.join(ROOT, "target", "release", "examples", "lcd_bench")]
        return self.run_json(cmd)

    def go(self, mode, io="fifo", group="", **kw):
        cmd = [os.path.join(BUILD, "go-client"), "-mode", mode, "-socket", self.daemon.socket,
               "-namespace", "lcdbench-go", "-spec", self.specs[("true", False)],
               "-state-dir", os.path.join(self.state, "go"), "-prefix", self.uid("g"), "-io", io]
        if group:
            cmd += ["-group", group]
        for k, v in kw.items():
            cmd += [f"-{k}", str(v)]
        return self.run_json(cmd)

    def ctr_run(self, id, spec_name="true", stdout=subprocess.DEVNULL):
        return ["ctr", "--address", self.daemon.socket, "-n", "lcdbench-ctr", "run", "--rm",
                "--config", self.specs[(spec_name, False)], "--runc-root", os.path.join(self.state, "ctr", "runc"),
                "--fifo-dir", os.path.join(self.state, "ctr", "fifo"), id]

    def runc_run(self, id, bundle="true"):
        return ["runc", "--root", os.path.join(self.state, "runc", "root"), "run", "--bundle",
                self.bundles[bundle], id]

    def spawn_batch(self, make_cmd, iters, workers):
        """Runs `iters` commands (`make_cmd(i)`) on `workers` threads; latencies and elapsed."""
        lat = []
        failures = 0

        def one(i):
            t0 = time.perf_counter()
            p = subprocess.run(make_cmd(i), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
            dt = (time.perf_counter() - t0) * 1e3
            if p.returncode != 0:
                log(f"{make_cmd(i)[0]} failed: {p.stderr.decode(errors='replace')[-500:]}")
                return None
            return dt

        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            for r in ex.map(one, range(iters)):
                if r is None:
                    failures += 1
                else:
                    lat.append(r)
        elapsed = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1e3
        return {"lat_ms": lat, "elapsed_s": elapsed, "n": len(lat), "failures": failures, "cpu_ms": cpu}

    def lifecycle_peers(self):
        """name → f(iters, workers) → {lat_ms, elapsed_s, n, ...}, checked by check_lifecycle.

        A peer of the library with the shim pool on is to be named `<peer>-pool` (report.py
        judges the pool's targets on `rust-pool`)."""
        return {
            "rust": lambda n, w: check_lifecycle(self.rust("lifecycle", iters=n, workers=w), LIBRARY_KEYS),
            "c": lambda n, w: check_lifecycle(self.c("lifecycle", n, w), LIBRARY_KEYS),
            "go": lambda n, w: check_lifecycle(self.go("lifecycle", iters=n, workers=w), GO_KEYS),
            "go-null": lambda n, w: check_lifecycle(self.go("lifecycle", io="null", iters=n, workers=w), GO_KEYS),
            "ctr": lambda n, w: self.spawn_batch(lambda i, p=self.uid("t"): self.ctr_run(f"{p}-{i}"), n, w),
            "runc": lambda n, w: self.spawn_batch(lambda i, p=self.uid("u"): self.runc_run(f"{p}-{i}"), n, w),
            # Stretch: one shim per group of containers (runc shim annotation).
            # The library's opt-in shim pool (keepers hold its shims between containers).
            "rust-pool": lambda n, w: check_lifecycle(self.rust("lifecycle", pool=SHIM_POOL, iters=n, workers=w),
                                                      LIBRARY_KEYS),
            "rust-group": lambda n, w: check_lifecycle(self.rust("lifecycle", group=True, iters=n, workers=w),
                                                       LIBRARY_KEYS),
            "go-group": lambda n, w: check_lifecycle(self.go("lifecycle", group="bench", iters=n, workers=w), GO_KEYS),
        }

    # ----------------------------------------------------------------- workloads

    def interleaved(self, peers, rounds, fn):
        """Runs fn(name, peer) for every peer, `rounds` times, rotating the order."""
        names = list(peers)
        out = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                try:
                    c0 = self.daemon.cpu_ms()
                    r = fn(n, peers[n])
                    if isinstance(r, dict):
                        r["containerd_cpu_ms"] = self.daemon.cpu_ms() - c0
                    out[n].append(r)
                except Exception as e:  # a failing peer must not sink the others
                    log(f"{n}: {e}")
                    out[n].append({"error": str(e)})
        return out

    def lifecycle(self):
        cfg = self.cfg
        peers = self.lifecycle_peers()
        log(f"lifecycle, sequential: {cfg['rounds']} rounds x {cfg['seq_iters']} per peer")
        seq = self.interleaved(peers, cfg["rounds"], lambda n, f: f(cfg["seq_iters"], 1))
        tput = {}
        for w in cfg["workers"]:
            n = cfg["tput_per_worker"] * w
            log(f"lifecycle throughput, {w} workers: {cfg['tput_rounds']} rounds x {n} per peer")
            tput[w] = self.interleaved(peers, cfg["tput_rounds"], lambda name, f: f(n, w))
        return {"sequential": seq, "throughput": tput}

    def exec_(self):
        cfg = self.cfg
        ctr_id = self.uid("x")
        subprocess.run(["ctr", "--address", self.daemon.socket, "-n", "lcdbench-ctr", "run", "-d", "--null-io",
                        "--config", self.specs[("sleep", False)], "--runc-root",
                        os.path.join(self.state, "ctr", "runc"), ctr_id],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True)
        exec_cmd = lambda i, p: ["ctr", "--address", self.daemon.socket, "-n", "lcdbench-ctr", "task", "exec",
                                 "--fifo-dir", os.path.join(self.state, "ctr", "fifo"),
                                 "--exec-id", f"{p}-{i}", ctr_id, "/bin/true"]
        peers = {
            "rust": lambda n: self.rust("exec", iters=n),
            "go": lambda n: self.go("exec", iters=n),
            "go-null": lambda n: self.go("exec", io="null", iters=n),
            "ctr": lambda n: self.spawn_batch(lambda i, p=self.uid("e"): exec_cmd(i, p), n, 1),
        }
        log(f"exec: {cfg['exec_rounds']} rounds x {cfg['exec_iters']} per peer")
        try:
            return self.interleaved(peers, cfg["exec_rounds"], lambda n, f: f(cfg["exec_iters"]))
        finally:
            self.daemon.clean_namespace("lcdbench-ctr")

    def pipeline_rate(self, cmd):
        """Runs `cmd | drain` and returns drain's GB/s."""
        drain = os.path.join(BUILD, "drain")
        p1 = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        p2 = subprocess.Popen([drain], stdin=p1.stdout, stdout=subprocess.PIPE)
        p1.stdout.close()
        out, _ = p2.communicate(timeout=600)
        p1.wait(600)
        r = json.loads(out)
        want = self.cfg["stdout_mib"] << 20
        if r["bytes"] != want:
            raise RuntimeError(f"{cmd[0]}: read {r['bytes']} bytes, want {want}")
        return r["gbps"]

    def stdout(self):
        cfg = self.cfg
        mib = cfg["stdout_mib"]
        dd = ["dd", "if=/dev/zero", "bs=1M", f"count={mib}", "status=none"]
        peers = {
            "rust": lambda: self.rust("stdout", iters=1, mib=mib)["gbps"][0],
            "go": lambda: self.go("stdout", iters=1, mib=mib)["gbps"][0],
            "fifo-raw": lambda: self.go("stdout", iters=1, mib=mib, raw="true")["gbps"][0],
            "ctr": lambda: self.pipeline_rate(self.ctr_run(self.uid("o"), "dd")),
            "runc": lambda: self.pipeline_rate(self.runc_run(self.uid("p"), "dd")),
            "host-pipe": lambda: self.pipeline_rate(dd),
        }
        log(f"stdout: {cfg['stdout_rounds']} rounds x {mib} MiB per peer")
        return self.interleaved(peers, cfg["stdout_rounds"], lambda n, f: f())

    def boundary(self):
        cfg = self.cfg
        n = cfg["boundary_iters"]
        empty = os.path.join(self.state, "empty")
        py = sys.executable
        peers = {
            "rust": lambda: self.rust("boundary", ns="lcdbench-empty", iters=n),
            "c": lambda: self.c("boundary", n, ns="lcdbench-empty"),
            "go": lambda: self.run_json([os.path.join(BUILD, "go-cgo"), "-socket", self.daemon.socket,
                                         "-state-dir", empty, "-namespace", "lcdbench-empty", "-iters", str(n)]),
            "python": lambda: self.run_json([py, os.path.join(ROOT, "bench", "python", "boundary.py"), self.lib,
                                             self.daemon.socket, empty, "lcdbench-empty", str(n)]),
        }
        log(f"boundary: {cfg['boundary_rounds']} rounds x {n} list calls per peer")
        return self.interleaved(peers, cfg["boundary_rounds"], lambda name, f: f())

    def density(self):
        log(f"density: {self.cfg['density']} sleeping containers under one client")
        return self.rust("density", ns="lcdbench-density", count=self.cfg["density"])

    def images(self):
        import images  # bench/images.py: pulls and containers from an image
        return images.workload(self)

    def run(self):
        res = {}
        for name, fn in (("boundary", self.boundary), ("lifecycle", self.lifecycle), ("exec", self.exec_),
                         ("stdout", self.stdout), ("density", self.density), ("images", self.images)):
            if self.args.only and name not in self.args.only:
                continue
            t0 = time.time()
            try:
                res[name] = fn()
            except Exception as e:  # report it, and still measure the rest
                log(f"{name}: {e}")
                res[name + "_error"] = {"error": str(e)}
            log(f"{name}: {time.time() - t0:.0f} s")
        res["containerd_version"] = self.daemon.version()
        return res

    def close(self):
        for ns in ("lcdbench-rs", "lcdbench-c", "lcdbench-go", "lcdbench-ctr", "lcdbench-density", "lcdbench-imgrs",
                   "lcdbench-imggo"):
            self.daemon.clean_namespace(ns)
        self.daemon.stop()


# The per-iteration series each lifecycle driver reports, besides lat_ms (create →
# task and container deleted), and the one that must never exceed lat_ms.
LIBRARY_KEYS = (("exit_ms", "event_ms", "reaped_ms"), "exit_ms")
GO_KEYS = (("exit_seen_ms", "reaped_ms"), None)


def check_lifecycle(r, keys):
    """Rejects a driver's lifecycle batch that does not time what the report says: one
    sample per iteration in every series, and (library) the `exit` report inside the
    iteration's time, which ends at the deletion."""
    series, before = keys
    n = r.get("n")
    for k in ("lat_ms",) + series:
        if len(r.get(k, ())) != n:
            raise RuntimeError(f"lifecycle driver: {k} has {len(r.get(k, ()))} samples, want {n}")
    if before:
        late = [(e, l) for e, l in zip(r[before], r["lat_ms"]) if e > l]
        if late:
            raise RuntimeError(f"lifecycle driver: {before} after the deletion it should precede: {late[:3]}")
    return r


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=True, timeout=30).stdout.strip()
    except Exception:
        return "?"


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"), "cgroups": cg,
        "runc": sh("runc --version | head -1"), "ctr": sh("ctr --version"),
        "go": sh("go version"), "rustc": sh("rustc --version"), "python": platform.python_version(),
        "go_client": sh(f"grep 'containerd/containerd/v2 ' {ROOT}/bench/go/go.mod | awk '{{print $2}}'"),
        "loadavg_before": open("/proc/loadavg").read().split()[:3],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a few iterations of everything (seconds)")
    ap.add_argument("--reduced", action="store_true", help="fewer iterations of everything (minutes)")
    ap.add_argument("--rootfs", default=os.environ.get("LCD_TEST_ROOTFS") or os.path.join(ROOT, "build", "rootfs"))
    ap.add_argument("--lib", default=os.environ.get("LIBCONTAINERD_LIB")
                    or os.path.join(ROOT, "target", "release", "libcontainerd.so"))
    ap.add_argument("--tmpdir", default=os.environ.get("LCD_TEST_TMPDIR") or "/tmp")
    ap.add_argument("--results", default=os.path.join(BUILD, "results.json"))
    ap.add_argument("--report", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--chart", default=os.path.join(ROOT, "docs", "benchmarks.png"))
    ap.add_argument("--only", nargs="*", help="run only these workloads")
    ap.add_argument("--from-results", help="only re-render the report and chart from a results file")
    args = ap.parse_args()

    if args.from_results:
        with open(args.from_results) as f:
            data = json.load(f)
    else:
        cfg = SMOKE if args.smoke else REDUCED if args.reduced else FULL
        state = tempfile.mkdtemp(prefix="lcdB-", dir=args.tmpdir)
        os.chmod(state, 0o700)
        started = datetime.datetime.now(datetime.timezone.utc)
        h = None
        try:
            h = Harness(args, cfg, state)
            info = machine()
            res = h.run()
        finally:
            if h is not None:
                h.close()
            if os.environ.get("LCD_TEST_KEEP") != "1":
                shutil.rmtree(state, ignore_errors=True)
        info["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
        info["containerd"] = res.pop("containerd_version")
        data = {"smoke": args.smoke, "config": cfg, "machine": info, "results": res,
                "started": started.strftime("%Y-%m-%d %H:%M UTC"),
                "duration_s": (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()}
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        with open(args.results, "w") as f:
            json.dump(data, f)
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import report
    summary = report.summarize(data)
    print(report.console(summary))
    report.write_markdown(data, summary, args.report, os.path.relpath(args.chart, os.path.dirname(args.report)))
    report.write_chart(summary, args.chart)
    failed = report.errors(data)
    if failed:
        print("errors:\n  " + "\n  ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
