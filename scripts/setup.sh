#!/usr/bin/env bash
# Installs what building and testing libcontainerd needs (Debian packages) and builds
# the busybox rootfs fixture at build/rootfs. Idempotent: with everything in place it
# only checks and returns. Never enables or starts the system containerd service:
# tests start their own containerd in private state directories.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
lcd_require_root scripts/setup.sh
cd "$LCD_ROOT"

# Bump when the layout of the rootfs fixture changes, so existing ones are rebuilt.
FIXTURE_VERSION=1

# valgrind: the C tests also run under memcheck (gcc's ASan/UBSan runtimes come with
# build-essential).
# python3-venv: the install checks build and install the Python wheel in fresh virtual
# environments; libssl-dev: building cargo-c
# (below); docker-registry, skopeo, umoci, apache2-utils (htpasswd): the image tests'
# local registry and test images; openssl: the test CA of the TLS registry.
PACKAGES=(containerd runc protobuf-compiler busybox-static build-essential pkg-config valgrind
    python3-venv libssl-dev docker-registry skopeo umoci apache2-utils openssl)

pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    lcd_log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep maintainer scripts from starting services (the system containerd): we
    # never rely on it, tests run their own daemons.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        added_policy=1
        trap '[ "$added_policy" = 1 ] && rm -f "$policy"' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ "$added_policy" = 1 ]; then
        rm -f "$policy"
        added_policy=0
    fi
else
    lcd_log "Debian packages present: ${PACKAGES[*]}"
fi

for tool in containerd containerd-shim-runc-v2 ctr runc protoc cc make pkg-config valgrind; do
    command -v "$tool" >/dev/null 2>&1 || lcd_die "$tool not found on PATH after installing packages"
done
command -v cargo >/dev/null 2>&1 || lcd_die "cargo not found: install a Rust toolchain (rustup) first"

# cargo-c (cargo cbuild / cinstall) builds and installs the C library for `make` and
# `make install`. Pinned: newer releases need a newer rustc than the one here.
LCD_CARGO_C_VERSION=0.10.24
if ! cargo cinstall --version 2>/dev/null | grep -F "$LCD_CARGO_C_VERSION" >/dev/null; then
    lcd_log "installing cargo-c $LCD_CARGO_C_VERSION (a few minutes)"
    cargo install cargo-c --version "$LCD_CARGO_C_VERSION" --locked ||
        lcd_die "cargo install cargo-c --version $LCD_CARGO_C_VERSION failed"
fi

if [ ! -d /sys/fs/cgroup ]; then
    lcd_warn "/sys/fs/cgroup is missing: containers need cgroups"
fi

# The busybox rootfs fixture.
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || lcd_die "$BUSYBOX missing (package busybox-static)"
ROOTFS="$LCD_ROOT/build/rootfs"
STAMP="$LCD_ROOT/build/rootfs.stamp"
bb_version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
bb_sum=$(sha256sum "$BUSYBOX" | cut -c1-16)
want_stamp="fixture=$FIXTURE_VERSION busybox-static=$bb_version sha256=$bb_sum"

if [ -x "$ROOTFS/bin/busybox" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
    lcd_log "rootfs fixture up to date: $ROOTFS"
    exit 0
fi

lcd_log "building rootfs fixture: $ROOTFS"
mkdir -p "$LCD_ROOT/build"
tmp=$(mktemp -d "$LCD_ROOT/build/rootfs.new.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"

mkdir -p "$tmp"/{bin,etc,proc,dev,sys,tmp,root,home/app,run,var,usr}
install -m 0755 "$BUSYBOX" "$tmp/bin/busybox"
n=0
for applet in $("$BUSYBOX" --list); do
    case "$applet" in
        busybox|*/*|"") continue ;;
    esac
    ln -sf busybox "$tmp/bin/$applet"
    n=$((n + 1))
done
# Everything lives in /bin; the usual other locations point there.
ln -s bin "$tmp/sbin"
ln -s ../bin "$tmp/usr/bin"
ln -s ../bin "$tmp/usr/sbin"

cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
app:x:1000:
nogroup:x:65534:
GROUP
echo "container" >"$tmp/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$tmp/etc/hosts"
: >"$tmp/etc/resolv.conf"

chmod 0644 "$tmp"/etc/passwd "$tmp"/etc/group "$tmp"/etc/hostname "$tmp"/etc/hosts "$tmp"/etc/resolv.conf
chmod 1777 "$tmp/tmp"
chmod 0700 "$tmp/root"
chmod 0755 "$tmp/home"
chown 1000:1000 "$tmp/home/app"
chmod 0755 "$tmp/home/app"

rm -rf "$ROOTFS" "$STAMP"
mv "$tmp" "$ROOTFS"
trap - EXIT
echo "$want_stamp" >"$STAMP"
lcd_log "rootfs fixture built: $n applets in $ROOTFS/bin"
