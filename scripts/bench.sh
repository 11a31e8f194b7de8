#!/usr/bin/env bash
# Runs the benchmark harness (bench/): the library (Rust API and C ABI) against the
# containerd Go client, ctr and bare runc, side by side on one private containerd
# that the harness starts in a temporary state directory. Prints the tables and
# writes docs/BENCHMARKS.md, docs/benchmarks.png and build/bench/results.json.
#
#   ./scripts/bench.sh            the full run (10–20 minutes on 2 CPUs)
#   ./scripts/bench.sh --smoke    a few iterations of everything (scripts/test.sh runs it)
#
# Other arguments go to bench/run.py (--help lists them; --report/--chart/--results
# choose where the outputs go, --only WORKLOAD... runs a part). Needs root, Go >= 1.24
# (github.com/containerd/containerd/v2 needs it) and what scripts/setup.sh installs;
# matplotlib for the chart is installed from PyPI into build/bench-venv.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
lcd_require_root scripts/bench.sh
cd "$LCD_ROOT"

bash scripts/setup.sh
command -v go >/dev/null 2>&1 || lcd_die "go not found: the Go client's driver needs Go >= 1.24"

lcd_log "building the library and the drivers"
cargo build --release --quiet --lib --example lcd_bench --example lcd_bench_images
mkdir -p build/bench
lib_dir="$LCD_ROOT/target/release"
cc -O2 -Wall -Wextra -o build/bench/drain bench/c/drain.c
cc -O2 -Wall -Wextra -Iinclude -o build/bench/lcd_bench_c bench/c/lcd_bench.c \
    -L"$lib_dir" -lcontainerd -Wl,-rpath,"$lib_dir" -lpthread
(cd bench/go && CGO_ENABLED=1 go build -o ../../build/bench/go-client ./client &&
    CGO_ENABLED=1 go build -o ../../build/bench/go-cgo ./cgo &&
    CGO_ENABLED=1 go build -o ../../build/bench/go-images ./images)
# The image workload's full run pushes an image built from the Debian fixture.
case " $* " in *" --smoke "*) ;; *) bash scripts/debian-rootfs.sh ;; esac

venv="$LCD_ROOT/build/bench-venv"
if ! "$venv/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
    lcd_log "installing matplotlib into $venv"
    { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } && "$venv/bin/python" -m pip install -q matplotlib
fi

# Every daemon and container lives below this directory; whatever is left when the
# harness ends (or is interrupted) is stopped and removed.
BENCH_TMP=$(mktemp -d "${LCD_TEST_TMPDIR:-/tmp}/lcdB-XXXXXX")
chmod 0700 "$BENCH_TMP"
cleanup() {
    if [ "${LCD_TEST_KEEP:-0}" = 1 ]; then lcd_stop_tree "$BENCH_TMP"; else lcd_cleanup_tree "$BENCH_TMP"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

LIBCONTAINERD_LIB="$lib_dir/libcontainerd.so" "$venv/bin/python" bench/run.py --tmpdir "$BENCH_TMP" "$@"
