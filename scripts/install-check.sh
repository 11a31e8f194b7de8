#!/usr/bin/env bash
# Checks libcontainerd the way someone who has not cloned this repository gets it:
# installed with `make install` into a temporary prefix, then used from a C program,
# a Go module and a Python wheel that live outside the repository and see nothing of
# it. scripts/test.sh runs each check as one suite.
#
# usage: scripts/install-check.sh <check> <work dir> <rootfs>
#   install   make install (PREFIX, DESTDIR) and uninstall; the installed file set,
#             the header identical to include/libcontainerd.h, Libs.private in the .pc
#   soname    readelf -d shows SONAME libcontainerd.so.<ABI major>
#   stripped  the installed .so has no .debug_info, is under 12 MB, and links to its
#             split debug file, which has the debug info
#   c         a C program built with only `pkg-config --cflags --libs libcontainerd`
#             runs a container
#   c-static  the same with `pkg-config --static` against a static-only install; the
#             program does not need libcontainerd.so
#   go        a Go module depending on a copy of bindings/go (replace directive) builds
#             with only PKG_CONFIG_PATH set and runs a container
#   wheel     `pip wheel ./bindings/python` gives a platform wheel that, installed in a
#             fresh virtual environment, runs a container with no environment variable
#   sdist     the sdist carries the Rust crate and builds a wheel from it
# The checks after `install` use the prefixes it made under <work dir>; state
# directories go below <work dir>/state-*.
set -uo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
cd "$LCD_ROOT" || exit 1

check=${1:?usage: install-check.sh <check> <work dir> <rootfs>}
work=${2:?work dir}
rootfs=${3:?rootfs}
mkdir -p "$work"
prefix="$work/prefix"
static_prefix="$work/static"
stage="$work/stage"
libdir="$prefix/lib"

abi=$(sed -n 's/^pub const ABI_VERSION: u32 = \([0-9]*\);/\1/p' src/lib.rs)
so_version=$(sed -n '/^\[package.metadata.capi.library\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)

die() { echo "FAILED: $*" >&2; exit 1; }

# A state directory of its own (short: containerd's socket path must fit).
new_state() { mktemp -d "$work/state-XXXXXX"; }

# The C program the C checks build: runs `sh -c 'exit 7'` and checks the exit code.
write_c_program() {
    cat >"$1" <<'EOF'
/* Runs `sh -c 'exit 7'` in a container; exits 0 when the exit event reports 7. */
#include <libcontainerd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int exited = 0;
static uint32_t code = 0;

static lcd_error *state_changed(void *ud, const char *id, const lcd_state_info *info) {
    (void)ud, (void)id;
    if (strcmp(info->state, LCD_STATE_EXIT) == 0) {
        pthread_mutex_lock(&mu);
        exited = 1;
        code = info->exit_code;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static int fail(lcd_error *e, const char *what) {
    fprintf(stderr, "%s: %s\n", what, lcd_error_message(e));
    lcd_error_free(e);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    char opts[4096], spec[8192];
    snprintf(opts, sizeof opts, "{\"state_dir\": \"%s\"}", argv[1]);
    snprintf(spec, sizeof spec,
             "{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": [\"sh\", \"-c\", \"exit 7\"],"
             " \"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0}, \"env\": [\"PATH=/bin\"]},"
             " \"root\": {\"path\": \"%s\", \"readonly\": true},"
             " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}],"
             " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"mount\"}]}}",
             argv[2]);
    printf("libcontainerd %s, ABI %u\n", lcd_version(), lcd_abi_version());
    lcd_remote *r = NULL;
    lcd_client *c = NULL;
    lcd_error *e = lcd_remote_new(opts, &r, NULL);
    if (e) return fail(e, "remote");
    lcd_backend b = {sizeof(lcd_backend), NULL, state_changed, NULL, NULL};
    if ((e = lcd_remote_client(r, &b, &c, NULL))) return fail(e, "client");
    if ((e = lcd_client_create(c, "install-check", spec, NULL, NULL))) return fail(e, "create");
    pthread_mutex_lock(&mu);
    while (!exited) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    lcd_client_free(c);
    lcd_remote_free(r);
    printf("exit code %u\n", code);
    return code == 7 ? 0 : 1;
}
EOF
}

case "$check" in
install)
    rm -rf "$prefix" "$static_prefix" "$stage"
    make install PREFIX="$prefix" || die "make install PREFIX=$prefix"
    make install PREFIX="$static_prefix" LIBRARY_TYPES=staticlib || die "make install LIBRARY_TYPES=staticlib"
    for f in "lib/libcontainerd.so.$so_version" "lib/libcontainerd.so.$abi" lib/libcontainerd.so \
        lib/libcontainerd.a lib/pkgconfig/libcontainerd.pc include/libcontainerd.h \
        "lib/.debug/libcontainerd.so.$so_version.debug"; do
        [ -e "$prefix/$f" ] || die "make install did not install $f"
        echo "installed $f"
    done
    [ -L "$libdir/libcontainerd.so.$abi" ] && [ -L "$libdir/libcontainerd.so" ] ||
        die "libcontainerd.so and libcontainerd.so.$abi are not symlinks"
    [ "$(readlink -f "$libdir/libcontainerd.so")" = "$(readlink -f "$libdir/libcontainerd.so.$so_version")" ] ||
        die "libcontainerd.so does not point at libcontainerd.so.$so_version"
    cmp include/libcontainerd.h "$prefix/include/libcontainerd.h" ||
        die "the installed header differs from include/libcontainerd.h"
    cat "$libdir/pkgconfig/libcontainerd.pc"
    grep -q '^Libs.private: .*-l' "$libdir/pkgconfig/libcontainerd.pc" || die "no Libs.private in the .pc"
    [ ! -e "$static_prefix/lib/libcontainerd.so" ] && [ -e "$static_prefix/lib/libcontainerd.a" ] ||
        die "LIBRARY_TYPES=staticlib did not install the archive alone"
    # Staging and uninstall.
    make install PREFIX=/usr/local DESTDIR="$stage" || die "make install DESTDIR=$stage"
    [ -e "$stage/usr/local/lib/libcontainerd.so.$so_version" ] || die "DESTDIR install missing the library"
    grep -q "^prefix=/usr/local$" "$stage/usr/local/lib/pkgconfig/libcontainerd.pc" ||
        die "the staged .pc does not say prefix=/usr/local"
    make uninstall PREFIX=/usr/local DESTDIR="$stage" || die "make uninstall"
    left=$(find "$stage" -type f -o -type l)
    [ -z "$left" ] || die "make uninstall left: $left"
    ;;
soname)
    readelf -d "$libdir/libcontainerd.so.$so_version" | tee "$work/dynamic.txt" | grep -E 'SONAME|NEEDED'
    grep -q "Library soname: \[libcontainerd.so.$abi\]" "$work/dynamic.txt" ||
        die "no SONAME libcontainerd.so.$abi"
    ;;
stripped)
    so="$libdir/libcontainerd.so.$so_version"
    size=$(stat -c %s "$so")
    echo "installed library: $size bytes"
    [ "$size" -lt $((12 * 1024 * 1024)) ] || die "the installed library is $size bytes (limit 12 MB)"
    readelf -S "$so" >"$work/sections.txt"
    ! grep -q '\.debug_info' "$work/sections.txt" || die "the installed library has .debug_info"
    grep -q '\.gnu_debuglink' "$work/sections.txt" || die "the installed library has no .gnu_debuglink"
    readelf -S "$prefix/lib/.debug/libcontainerd.so.$so_version.debug" >"$work/debug-sections.txt" ||
        die "cannot read the split debug file"
    grep -q '\.debug_info' "$work/debug-sections.txt" || die "the split debug file has no .debug_info"
    readelf -S "$prefix/lib/libcontainerd.a" >"$work/archive-sections.txt" 2>/dev/null ||
        die "cannot read the installed archive"
    ! grep -q '\.debug_info' "$work/archive-sections.txt" || die "the installed archive has debug info"
    ;;
c | c-static)
    dir="$work/$check"
    rm -rf "$dir" && mkdir -p "$dir"
    write_c_program "$dir/app.c"
    if [ "$check" = c ]; then
        export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
        flags=$(pkg-config --cflags --libs libcontainerd) || die "pkg-config libcontainerd"
    else
        export PKG_CONFIG_PATH="$static_prefix/lib/pkgconfig"
        flags=$(pkg-config --static --cflags --libs libcontainerd) || die "pkg-config --static libcontainerd"
    fi
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086
    (cd "$dir" && cc -o app app.c $flags) || die "cc app.c $flags"
    readelf -d "$dir/app" >"$dir/dynamic.txt" || die "readelf -d app"
    grep NEEDED "$dir/dynamic.txt"
    state=$(new_state)
    if [ "$check" = c ]; then
        grep -q 'NEEDED.*\[libcontainerd.so.'"$abi"'\]' "$dir/dynamic.txt" || die "app does not need libcontainerd.so.$abi"
        (cd "$dir" && env -u LIBCONTAINERD_LIB LD_LIBRARY_PATH="$libdir" ./app "$state" "$rootfs") || die "app failed"
    else
        ! grep -q 'NEEDED.*libcontainerd' "$dir/dynamic.txt" || die "the static app needs libcontainerd.so"
        (cd "$dir" && env -u LIBCONTAINERD_LIB -u LD_LIBRARY_PATH ./app "$state" "$rootfs") || die "app failed"
    fi
    ;;
go)
    command -v go >/dev/null 2>&1 || die "no Go toolchain"
    dir="$work/go"
    rm -rf "$dir" && mkdir -p "$dir/app"
    # The binding as its module zip holds it: bindings/go alone.
    cp -r bindings/go "$dir/binding"
    module=$(sed -n 's/^module //p' bindings/go/go.mod)
    cat >"$dir/app/go.mod" <<EOF
module example.com/app

go 1.21

require $module v0.0.0

replace $module => ../binding
EOF
    cat >"$dir/app/main.go" <<'EOF'
// Command app runs `sh -c 'exit 7'` in a container through the Go binding.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type backend struct{ exited chan uint32 }

func (b *backend) StateChanged(id string, info libcontainerd.StateInfo) error {
	if info.State == libcontainerd.StateExit {
		b.exited <- info.ExitCode
	}
	return nil
}

func (b *backend) AttachStreams(id, processID string, io libcontainerd.IOPipe) error {
	io.Stdin.Close()
	io.Stdout.Close()
	io.Stderr.Close()
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer remote.Close()
	b := &backend{exited: make(chan uint32, 1)}
	client, err := remote.Client(ctx, b)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer client.Close()
	spec := libcontainerd.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: []string{"sh", "-c", "exit 7"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:    &specs.Root{Path: os.Args[2], Readonly: true},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux:   &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}},
	}
	if err := client.Create(ctx, "install-check", spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := <-b.exited
	fmt.Println("libcontainerd", libcontainerd.Version(), "exit code", code)
	if code != 7 {
		os.Exit(1)
	}
}
EOF
    cp bindings/go/go.sum "$dir/app/go.sum"
    (cd "$dir/app" &&
        env -u CGO_CFLAGS -u CGO_LDFLAGS -u CGO_CPPFLAGS -u LD_LIBRARY_PATH -u LIBCONTAINERD_LIB \
            PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_ENABLED=1 GOFLAGS=-mod=mod \
            sh -c 'go mod tidy && go build -o app .') || die "go build with PKG_CONFIG_PATH only"
    state=$(new_state)
    (cd "$dir/app" && env -u LIBCONTAINERD_LIB LD_LIBRARY_PATH="$libdir" ./app "$state" "$rootfs") || die "the Go app failed"
    ;;
wheel)
    dir="$work/wheel"
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m venv "$dir/build-venv" || die "python3 -m venv"
    "$dir/build-venv/bin/python" -m pip wheel -q --no-deps -w "$dir/dist" ./bindings/python || die "pip wheel"
    whl=$(ls "$dir"/dist/libcontainerd-*.whl) || die "no wheel"
    echo "wheel: $(basename "$whl")"
    case "$(basename "$whl")" in
        *-none-any.whl) die "the wheel is not platform-tagged" ;;
        *-py3-none-linux_*.whl) ;;
        *) die "unexpected wheel tag" ;;
    esac
    python3 -m zipfile -l "$whl" >"$dir/contents.txt" || die "cannot list the wheel"
    grep -q 'libcontainerd/libcontainerd.so' "$dir/contents.txt" || die "the wheel has no libcontainerd.so"
    python3 -m venv "$dir/venv" || die "python3 -m venv"
    "$dir/venv/bin/python" -m pip install -q --no-deps "$whl" || die "pip install the wheel"
    state=$(new_state)
    cat >"$dir/run.py" <<'EOF'
"""Runs `sh -c 'exit 7'` in a container with the installed wheel."""
import sys
import libcontainerd as lcd

state, rootfs, venv = sys.argv[1:4]
assert lcd.library_path().startswith(venv), lcd.library_path()
spec = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh", "-c", "exit 7"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
    "root": {"path": rootfs, "readonly": True},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
}
backend = lcd.CollectingBackend()
with lcd.Remote(state_dir=state) as remote, remote.client(backend) as client:
    client.create("install-check", spec)
    code = backend.wait_for("install-check", lcd.State.EXIT, 60).exit_code
print("libcontainerd", lcd.library_version(), "from", lcd.library_path(), "exit code", code)
sys.exit(0 if code == 7 else 1)
EOF
    (cd "$dir" && env -u LIBCONTAINERD_LIB -u LD_LIBRARY_PATH -u PYTHONPATH \
        "$dir/venv/bin/python" run.py "$state" "$rootfs" "$dir/venv") || die "the wheel's library did not run a container"
    ;;
sdist)
    dir="$work/sdist"
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m venv "$dir/venv" || die "python3 -m venv"
    "$dir/venv/bin/python" -m pip install -q build || die "pip install build"
    "$dir/venv/bin/python" -m build --sdist -o "$dir/dist" ./bindings/python || die "python -m build --sdist"
    sdist=$(ls "$dir"/dist/libcontainerd-*.tar.gz) || die "no sdist"
    tar -tzf "$sdist" >"$dir/contents.txt"
    for f in rust/Cargo.toml rust/Cargo.lock rust/src/lib.rs rust/src/ffi/mod.rs rust/include/libcontainerd.h LICENSE setup.py; do
        grep -q "^libcontainerd-[^/]*/$f$" "$dir/contents.txt" || die "the sdist lacks $f"
    done
    # Built from the sdist alone (the crate's build reuses this checkout's compiled
    # dependencies through CARGO_TARGET_DIR, to save time).
    CARGO_TARGET_DIR="$LCD_ROOT/target" "$dir/venv/bin/python" -m pip wheel -q --no-deps -w "$dir/wheel" "$sdist" ||
        die "pip wheel from the sdist"
    whl=$(ls "$dir"/wheel/libcontainerd-*.whl) || die "no wheel from the sdist"
    python3 -m zipfile -l "$whl" >"$dir/wheel-contents.txt" || die "cannot list the wheel from the sdist"
    grep -q 'libcontainerd/libcontainerd.so' "$dir/wheel-contents.txt" || die "the wheel from the sdist has no library"
    echo "sdist $(basename "$sdist") -> $(basename "$whl")"
    ;;
*)
    die "unknown check $check"
    ;;
esac
echo "ok $check"
