#!/usr/bin/env bash
# Test registry fixture shared by the Rust, C, Go and Python image tests: a real
# distribution registry (Debian's docker-registry) on 127.0.0.1, and busybox-based test
# images built with umoci and pushed with skopeo. Nothing is fetched from the network.
#
#   test-registry.sh seed DIR             build the test images under DIR (OCI layout,
#                                         oci-archive and docker-archive files), start a
#                                         registry storing under DIR, push them; prints the
#                                         registry address (host:port)
#   test-registry.sh start DIR [USER:PASS] start a registry storing under DIR (a copy of a
#                                         seeded DIR works); with USER:PASS it requires basic
#                                         auth; on a restart it reuses DIR's port; prints
#                                         host:port
#   test-registry.sh start-tls DIR        the same over TLS, without auth: the certificate
#                                         (for 127.0.0.1) is signed by a test CA whose
#                                         certificate is DIR/tls/ca.pem
#   test-registry.sh stop DIR             stop the registry started for DIR (by its pid only)
#
# Images pushed by seed (all under <addr>/test/):
#   busybox:latest   3 layers (rootfs, /hello.txt, /data/marker), entrypoint/cmd/env/cwd set
#   multi:latest     an OCI index: linux/amd64 and linux/arm64 manifests over the same layers
#                    (env ARCH_MARK tells them apart)
#   corrupt:latest   busybox plus a 4th layer of its own (the fault tests damage its blob)
# Archives written by seed: DIR/archives/busybox-oci.tar (oci-archive, ref name
# "busybox:latest") and DIR/archives/busybox-docker.tar (docker save format, repo tag
# "test/busybox:latest").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ROOTFS="${LCD_TEST_ROOTFS:-$repo/build/rootfs}"

die() { echo "test-registry: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port pid
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || die "registry exited: $(tail -5 "$dir/registry.log" 2>/dev/null)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "registry did not listen on 127.0.0.1:$1"
}

# A test CA (DIR/tls/ca.pem) and a certificate it signs for 127.0.0.1 (made once per DIR).
make_tls() { # dir
    local t="$1/tls"
    [ -f "$t/cert.pem" ] && return 0
    mkdir -p "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=libcontainerd test CA" \
        -keyout "$t/ca-key.pem" -out "$t/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$t/key.pem" \
        -out "$t/req.pem" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$t/ext.cnf"
    openssl x509 -req -in "$t/req.pem" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
        -days 2 -extfile "$t/ext.cnf" -out "$t/cert.pem" 2>/dev/null
}

start() { # dir [user:pass] [tls]
    dir="$1"; auth="${2:-}"; tls="${3:-}"
    [ -z "$tls" ] || make_tls "$dir"
    mkdir -p "$dir/storage"
    [ -f "$dir/port" ] || free_port >"$dir/port"
    port="$(cat "$dir/port")"
    {
        echo "version: 0.1"
        echo "log: {level: warn, accesslog: {disabled: true}}"
        echo "storage:"
        echo "  filesystem: {rootdirectory: \"$dir/storage\"}"
        echo "  delete: {enabled: true}"
        echo "  maintenance: {uploadpurging: {enabled: false}}"
        echo "http:"
        echo "  addr: 127.0.0.1:$port"
        if [ -n "$tls" ]; then
            echo "  tls: {certificate: \"$dir/tls/cert.pem\", key: \"$dir/tls/key.pem\"}"
        fi
        if [ -n "$auth" ]; then
            htpasswd -Bbn "${auth%%:*}" "${auth#*:}" >"$dir/htpasswd"
            echo "auth:"
            echo "  htpasswd: {realm: test-realm, path: \"$dir/htpasswd\"}"
        fi
    } >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/registry.pid"
    wait_port "$port" "$pid"
    echo "127.0.0.1:$port"
}

stop() { # dir
    local pidf="$1/registry.pid"
    [ -f "$pidf" ] || return 0
    pid="$(cat "$pidf")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidf"
}

# Builds the OCI layout DIR/layout with tags busybox, busybox-arm64, corrupt and multi.
build_images() { # dir
    local dir="$1" L="$1/layout" w="$1/work"
    [ -x "$ROOTFS/bin/busybox" ] || die "no busybox rootfs at $ROOTFS (run scripts/setup.sh)"
    rm -rf "$L" "$w"; mkdir -p "$w/data"
    echo "hello from layer 2" >"$w/hello.txt"
    echo "layer 3" >"$w/data/marker"
    head -c 65536 /dev/urandom >"$w/noise"
    umoci init --layout "$L"
    umoci new --image "$L:busybox"
    umoci insert --image "$L:busybox" "$ROOTFS" / >/dev/null
    umoci insert --image "$L:busybox" "$w/hello.txt" /hello.txt >/dev/null
    umoci insert --image "$L:busybox" "$w/data" /data >/dev/null
    umoci config --no-history --image "$L:busybox" --os linux --architecture amd64 \
        --config.entrypoint /bin/sh --config.cmd -c --config.cmd 'cat /hello.txt' \
        --config.env PATH=/bin:/usr/bin --config.env IMAGE_MARK=busybox \
        --config.workingdir /data --config.user 0:0 --config.stopsignal SIGINT \
        --config.label org.example.test=busybox
    umoci config --no-history --image "$L:busybox" --tag amd64 --config.env ARCH_MARK=amd64
    umoci config --no-history --image "$L:busybox" --tag arm64 --architecture arm64 --config.env ARCH_MARK=arm64
    umoci config --no-history --image "$L:busybox" --tag corrupt
    umoci insert --image "$L:corrupt" "$w/noise" /noise >/dev/null
    # An index over the amd64 and arm64 manifests, tagged "multi".
    python3 - "$L" <<'EOF'
import hashlib, json, os, sys
L = sys.argv[1]
idx_path = os.path.join(L, "index.json")
idx = json.load(open(idx_path))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
entries = []
for tag, arch in (("amd64", "amd64"), ("arm64", "arm64")):
    d = dict(by_tag[tag]); d.pop("annotations", None)
    d["platform"] = {"architecture": arch, "os": "linux"}
    entries.append(d)
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": entries}).encode()
dg = hashlib.sha256(body).hexdigest()
open(os.path.join(L, "blobs", "sha256", dg), "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + dg, "size": len(body),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(idx_path, "w"))
EOF
    rm -rf "$w"
}

seed() { # dir
    local dir="$1"
    mkdir -p "$dir/archives"
    build_images "$dir" >&2
    rm -f "$dir/archives/"*.tar
    skopeo copy -q "oci:$dir/layout:busybox" "oci-archive:$dir/archives/busybox-oci.tar:busybox:latest" >&2
    skopeo copy -q "oci:$dir/layout:busybox" "docker-archive:$dir/archives/busybox-docker.tar:test/busybox:latest" >&2
    local addr
    addr="$(start "$dir")"
    local p=(skopeo copy -q --dest-tls-verify=false)
    "${p[@]}" "oci:$dir/layout:busybox" "docker://$addr/test/busybox:latest" >&2
    "${p[@]}" "oci:$dir/layout:corrupt" "docker://$addr/test/corrupt:latest" >&2
    "${p[@]}" --all "oci:$dir/layout:multi" "docker://$addr/test/multi:latest" >&2
    echo "$addr"
}

case "${1:-}" in
    seed) [ $# -eq 2 ] || die "usage: $0 seed DIR"; seed "$(realpath -m "$2")" ;;
    start) [ $# -ge 2 ] || die "usage: $0 start DIR [USER:PASS]"; start "$(realpath -m "$2")" "${3:-}" ;;
    start-tls) [ $# -eq 2 ] || die "usage: $0 start-tls DIR"; start "$(realpath -m "$2")" "" tls ;;
    stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$(realpath -m "$2")" ;;
    *) die "usage: $0 seed|start|start-tls|stop DIR [USER:PASS]" ;;
esac
