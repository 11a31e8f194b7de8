#!/usr/bin/env bash
# Builds (once, then cached) the Debian userland fixture build/debian-rootfs:
# `debootstrap --variant=minbase` of the host's Debian release with python3-minimal,
# plus an unprivileged user `app` (uid/gid 1000). Needs root and network access to a
# Debian mirror (LCD_DEBIAN_MIRROR, default http://deb.debian.org/debian).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
lcd_require_root scripts/debian-rootfs.sh
cd "$LCD_ROOT"

# Bump when the fixture's contents change, so existing ones are rebuilt.
FIXTURE_VERSION=1
SUITE=${LCD_DEBIAN_SUITE:-bookworm}
MIRROR=${LCD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS="$LCD_ROOT/build/debian-rootfs"
STAMP="$LCD_ROOT/build/debian-rootfs.stamp"
want_stamp="fixture=$FIXTURE_VERSION suite=$SUITE"

if [ -x "$ROOTFS/bin/bash" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
    lcd_log "Debian rootfs fixture up to date: $ROOTFS"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    lcd_log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

lcd_log "building Debian rootfs fixture ($SUITE, minbase): $ROOTFS"
mkdir -p "$LCD_ROOT/build"
tmp=$(mktemp -d "$LCD_ROOT/build/debian-rootfs.new.XXXXXX")
# debootstrap can leave /proc (and more) mounted in the tree: unmounted before the
# tree is moved or removed, so that nothing walks into the host's /proc.
unmount_below() {
    findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | while read -r m; do
        umount -l "$m" || lcd_warn "cannot unmount $m"
    done
}
trap 'unmount_below "$tmp"; rm -rf --one-file-system "$tmp"' EXIT
chmod 0755 "$tmp"
debootstrap --variant=minbase --include=python3-minimal "$SUITE" "$tmp" "$MIRROR" >"$LCD_ROOT/build/debian-rootfs.log" 2>&1 ||
    lcd_die "debootstrap failed; see build/debian-rootfs.log"
chroot "$tmp" /usr/sbin/groupadd -g 1000 app
chroot "$tmp" /usr/sbin/useradd -m -u 1000 -g 1000 -s /bin/bash app
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
unmount_below "$tmp"

rm -rf "$ROOTFS" "$STAMP"
mv "$tmp" "$ROOTFS"
trap - EXIT
echo "$want_stamp" >"$STAMP"
lcd_log "Debian rootfs fixture built: $ROOTFS"
