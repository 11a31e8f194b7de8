"""Image workloads of the benchmark harness (bench/run.py runs them): a pull with unpack
from a local registry, and the lifecycle of a container created from an image, through

  rust     the library's Rust API          (target/release/examples/lcd_bench_images)
  go       containerd's Go client v2       (build/bench/go-images): Client.Pull with
           WithPullUnpack; NewContainer(WithImage, WithNewSnapshot, WithNewSpec(
           oci.WithImageConfig))
  ctr      `ctr image pull` (unpacks into the default snapshotter)

The registry is Debian's docker-registry, started with scripts/test-registry.sh under the
harness's state directory. The full run pushes a multi-layer image built with umoci from
the Debian rootfs fixture (build/debian-rootfs); the smoke run the busybox test image of
scripts/test-registry.sh. Every pull starts from the same state: before each one the
image is removed with a synchronous garbage collection and the harness checks that
containerd's content store and snapshotter hold nothing (no blob on disk, no snapshot,
no lease), whichever peer pulled before."""

import json
import os
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "bench")
REGISTRY = os.path.join(ROOT, "scripts", "test-registry.sh")
PULL_NS = "lcdbench-img"
LIFECYCLE_NS = {"rust": "lcdbench-imgrs", "go": "lcdbench-imggo"}
# Blobs downloaded at once, the same for every peer (the library's default).
DOWNLOADS = 3
# The Debian image: one layer per part of the tree, as a Dockerfile's steps would give.
DEBIAN_LAYERS = ("usr/lib", "usr/share", "usr/bin")
DEBIAN_IMAGE_VERSION = "1"


def log(msg):
    print(f"==> {msg}", flush=True, file=__import__("sys").stderr)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)


def build_debian_layout(rootfs, layout):
    """An OCI layout (tag `debian`) of `rootfs` in several layers: everything but the
    trees of DEBIAN_LAYERS, then each of those, then a small layer of its own; config
    `/bin/true`. Kept under build/bench and rebuilt when the rootfs or this recipe changes."""
    stamp = layout + ".stamp"
    want = f"recipe={DEBIAN_IMAGE_VERSION} rootfs={os.stat(rootfs).st_mtime_ns}"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    log(f"building the multi-layer image from {rootfs} (once)")
    shutil.rmtree(layout, ignore_errors=True)
    base = layout + ".base"
    shutil.rmtree(base, ignore_errors=True)
    # The base layer: the tree without the parts that get layers of their own, nor the
    # contents of the mount points (a container may have /proc mounted in the fixture).
    run(["cp", "-a", "--one-file-system", rootfs + "/.", base])
    for part in DEBIAN_LAYERS + ("proc", "sys"):
        p = os.path.join(base, part)
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p, exist_ok=True)
    img = f"{layout}:debian"
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", img])
    run(["umoci", "insert", "--image", img, base, "/"])
    for part in DEBIAN_LAYERS:
        run(["umoci", "insert", "--image", img, os.path.join(rootfs, part), "/" + part])
    marker = layout + ".marker"
    with open(marker, "w") as f:
        f.write("libcontainerd benchmark image\n")
    run(["umoci", "insert", "--image", img, marker, "/etc/lcdbench"])
    run(["umoci", "config", "--no-history", "--image", img, "--os", "linux", "--architecture", "amd64",
         "--config.cmd", "/bin/true", "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    shutil.rmtree(base, ignore_errors=True)
    os.unlink(marker)
    with open(stamp, "w") as f:
        f.write(want)


def image_sizes(layout, tag):
    """(layers, compressed bytes, uncompressed bytes) of an OCI layout's image."""
    import gzip
    import json
    blobs = os.path.join(layout, "blobs", "sha256")
    idx = json.load(open(os.path.join(layout, "index.json")))
    desc = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    manifest = json.load(open(os.path.join(blobs, desc["digest"].split(":")[1])))
    packed = sum(layer["size"] for layer in manifest["layers"])
    unpacked = 0
    for layer in manifest["layers"]:
        with gzip.open(os.path.join(blobs, layer["digest"].split(":")[1])) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                unpacked += len(b)
    return len(manifest["layers"]), packed, unpacked


class Images:
    """The image workloads on the harness's daemon (`h`, a run.Harness)."""

    def __init__(self, h):
        self.h = h
        self.daemon = h.daemon
        self.cfg = h.cfg
        self.dir = os.path.join(h.state, "registry")
        os.makedirs(self.dir)
        self.addr = None

    def start(self):
        """Starts the registry and pushes the image; sets self.ref and self.image."""
        if self.h.args.smoke:
            self.addr = run(["bash", REGISTRY, "seed", self.dir]).stdout.strip().splitlines()[-1]
            self.ref = f"{self.addr}/test/busybox:latest"
            layout, tag = os.path.join(self.dir, "layout"), "busybox"
        else:
            rootfs = os.environ.get("LCD_TEST_DEBIAN_ROOTFS") or os.path.join(ROOT, "build", "debian-rootfs")
            if not os.path.exists(os.path.join(rootfs, "bin")):
                raise RuntimeError(f"no Debian rootfs at {rootfs} (scripts/debian-rootfs.sh builds it)")
            layout, tag = os.path.join(BUILD, "debian-image"), "debian"
            build_debian_layout(rootfs, layout)
            self.addr = run(["bash", REGISTRY, "start", self.dir]).stdout.strip().splitlines()[-1]
            self.ref = f"{self.addr}/bench/debian:latest"
            run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{self.ref}"],
                timeout=600)
        layers, packed, unpacked = image_sizes(layout, tag)
        self.image = {"ref": self.ref, "layers": layers, "compressed_bytes": packed, "uncompressed_bytes": unpacked,
                      "downloads": DOWNLOADS}

    def stop(self):
        subprocess.run(["bash", REGISTRY, "stop", self.dir], stdin=subprocess.DEVNULL, capture_output=True)

    # ------------------------------------------------------------ a clean slate

    def root(self, *parts):
        return os.path.join(self.daemon.dir, "root", *parts)

    def leftovers(self, ns):
        """What containerd still holds of pulled images: blobs on disk (any namespace),
        snapshots, images and leases of `ns`."""
        out = []
        blobs = self.root("io.containerd.content.v1.content", "blobs", "sha256")
        if os.path.isdir(blobs) and os.listdir(blobs):
            out.append(f"{len(os.listdir(blobs))} blobs")
        for what in ("images", "snapshots", "leases"):
            lines = self.daemon.ctr([what, "ls", "-q"] if what != "snapshots" else [what, "ls"], ns=ns).stdout.split("\n")
            items = [ln for ln in lines[(1 if what == "snapshots" else 0):] if ln.strip()]
            if items:
                out.append(f"{len(items)} {what}")
        return out

    def reset(self, ns=PULL_NS):
        """Removes the image and waits until nothing of it is left (not timed)."""
        self.daemon.ctr(["images", "rm", "--sync", self.ref], ns=ns, check=False)
        deadline = time.time() + 30
        while True:
            left = self.leftovers(ns)
            if not left:
                return
            if time.time() > deadline:
                raise RuntimeError(f"containerd still holds {', '.join(left)} after the image's removal")
            time.sleep(0.1)

    # ------------------------------------------------------------ peers

    def driver(self, cmd):
        """Runs a driver and returns its JSON; what it said of failed iterations is logged."""
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({p.returncode}): {p.stderr[-2000:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        if r.get("failures"):
            log(f"{os.path.basename(cmd[0])}: {r['failures']} failed iterations: {p.stderr[-2000:]}")
        return r

    def timed(self, cmd):
        """Runs a driver; its JSON with the whole command's wall time as `cmd_ms`."""
        t0 = time.perf_counter()
        r = self.driver(cmd)
        r["cmd_ms"] = (time.perf_counter() - t0) * 1e3
        return r

    def pull_peers(self):
        plain = self.addr
        rust = [os.path.join(ROOT, "target", "release", "examples", "lcd_bench_images"), "pull",
                "--socket", self.daemon.socket, "--state-dir", os.path.join(self.h.state, "rs"),
                "--namespace", PULL_NS, "--ref", self.ref, "--plain-http", plain, "--downloads", str(DOWNLOADS)]
        go = [os.path.join(BUILD, "go-images"), "-mode", "pull", "-socket", self.daemon.socket, "-namespace", PULL_NS,
              "-ref", self.ref, "-plain-http", "-downloads", str(DOWNLOADS)]
        ctr = ["ctr", "--address", self.daemon.socket, "-n", PULL_NS, "images", "pull", "--plain-http",
               "--max-concurrent-downloads", str(DOWNLOADS), self.ref]

        def ctr_pull():
            t0 = time.perf_counter()
            p = subprocess.run(ctr, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
            dt = (time.perf_counter() - t0) * 1e3
            if p.returncode != 0:
                raise RuntimeError(f"ctr images pull failed: {p.stderr[-1000:]}")
            return {"cmd_ms": dt}

        return {"rust": lambda: self.timed(rust), "go": lambda: self.timed(go), "ctr": ctr_pull}

    def pull(self):
        """Interleaved pulls: each round runs every peer `image_pulls` times, each pull
        from the clean slate (reset before it, untimed)."""
        cfg = self.cfg
        peers = self.pull_peers()

        def batch(name, fn):
            out = {"cmd_ms": [], "pull_ms": [], "connect_ms": []}
            for _ in range(cfg["image_pulls"]):
                self.reset()
                r = fn()
                out["cmd_ms"].append(r["cmd_ms"])
                for key in ("pull_ms", "connect_ms"):
                    if key in r:
                        out[key].append(r[key])
                left = self.daemon.ctr(["images", "ls", "-q"], ns=PULL_NS).stdout.split()
                if self.ref not in left:
                    raise RuntimeError(f"{name}: the image is not registered after the pull")
            self.reset()
            return out

        # One untimed pull per peer first: the first pull after the previous workload
        # meets the machine still settling (writeback, containerd's collector), which
        # would fall on whichever peer the rotation puts first.
        log("image pull: one untimed warm-up pull per peer")
        for name, fn in peers.items():
            self.reset()
            fn()
        self.reset()
        log(f"image pull: {cfg['image_rounds']} rounds x {cfg['image_pulls']} pulls per peer of {self.ref}")
        return self.h.interleaved(peers, cfg["image_rounds"], batch)

    def lifecycle(self):
        """Interleaved lifecycles of containers created from the image (pulled into each
        peer's namespace beforehand, untimed)."""
        cfg = self.cfg
        for ns in LIFECYCLE_NS.values():
            self.daemon.ctr(["images", "pull", "--plain-http", self.ref], ns=ns, timeout=900)
        n = cfg["image_lc_iters"]
        peers = {
            "rust": lambda: self.driver([
                os.path.join(ROOT, "target", "release", "examples", "lcd_bench_images"), "lifecycle",
                "--socket", self.daemon.socket, "--state-dir", os.path.join(self.h.state, "rs"),
                "--namespace", LIFECYCLE_NS["rust"], "--ref", self.ref, "--prefix", self.h.uid("ri"),
                "--iters", str(n)]),
            "go": lambda: self.driver([
                os.path.join(BUILD, "go-images"), "-mode", "lifecycle", "-socket", self.daemon.socket,
                "-namespace", LIFECYCLE_NS["go"], "-ref", self.ref, "-state-dir", os.path.join(self.h.state, "go"),
                "-prefix", self.h.uid("gi"), "-iters", str(n)]),
        }
        log(f"image lifecycle: {cfg['image_rounds']} rounds x {n} per peer")
        try:
            return self.h.interleaved(peers, cfg["image_rounds"], lambda name, f: f())
        finally:
            for ns in LIFECYCLE_NS.values():
                self.daemon.clean_namespace(ns)
                self.daemon.ctr(["images", "rm", "--sync", self.ref], ns=ns, check=False)


def workload(h):
    """The `images` workload of bench/run.py: the registry, the pulls, the lifecycles."""
    im = Images(h)
    try:
        im.start()
        res = {"image": im.image}
        for name, fn in (("pull", im.pull), ("lifecycle", im.lifecycle)):
            try:
                res[name] = fn()
            except Exception as e:  # report it, and still measure the rest
                log(f"images {name}: {e}")
                res[name + "_error"] = {"error": str(e)}
        return res
    finally:
        im.stop()
