#!/usr/bin/env bash
# Runs every test of libcontainerd: the Rust unit and integration tests, the C test
# programs (tests/c), and the Go and Python bindings' tests when those exist. Tests
# run real containers on containerd daemons of their own, so this needs root.
#
# Ends with the line "N passed, N failed", counting test suites: each Rust test
# binary, each C test program, the Go run, the Python pytest and mypy runs. Exits non-zero if
# anything failed, including a suite that ran no test or left a process (containerd, a
# shim) or a fifo of its own behind.
#
# Environment:
#   LCD_TEST_TIMEOUT     seconds for `cargo test` (default 2700)
#   LCD_C_TEST_TIMEOUT   seconds for each C test program (default 300)
#   LCD_GO_TEST_TIMEOUT  seconds for the Go tests (default 900)
#   LCD_PY_TEST_TIMEOUT  seconds for the Python tests (default 900)
#   LCD_BENCH_SMOKE_TIMEOUT  seconds for the benchmark smoke run (default 900)
#   LCD_INSTALL_CHECK_TIMEOUT  seconds for each install check (default 1800)
#   LCD_SANITIZE=0       skip the C tests under ASan/UBSan and valgrind (default: run;
#                        a skipped suite is listed as SKIP, counted neither way)
#   LCD_VALGRIND_TIMEOUT seconds for each C test program under valgrind (default 900)
#   LCD_FUZZ_SECONDS     seconds of fuzzing per fuzz target (default 30; 0 skips)
#   LCD_TEST_KEEP=1      keep the temporary state directories for inspection
set -uo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
lcd_require_root scripts/test.sh
cd "$LCD_ROOT" || exit 1

passed=0
failed=0
results=()
pass() { passed=$((passed + 1)); results+=("PASS  $1"); }
fail() { failed=$((failed + 1)); results+=("FAIL  $1"); }
# A suite left out on purpose: listed (never silently dropped), counted neither way.
skip() { results+=("SKIP  $1"); }

# Fails suite $1 if anything it started below directory $2 outlives it: a process
# whose command line points there (containerd, a shim: other containerds on this
# machine are never looked at) or a fifo left in it. Waits up to 10 s for what is
# still ending. The caller stops and removes what is left afterwards.
leftovers() {
    local suite=$1 dir=$2 p pids fifos pattern _
    pattern=$(printf '%s/' "$dir" | sed 's/[.[\*^$()+?{|]/\\&/g')
    for _ in $(seq 1 40); do
        pids=$(pgrep -f -- "$pattern")
        fifos=$(find "$dir" -xdev -type p 2>/dev/null | head -20)
        [ -z "$pids" ] && [ -z "$fifos" ] && return 0
        sleep 0.25
    done
    lcd_warn "$suite left behind:"
    for p in $pids; do
        printf '  pid %s: %s\n' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
    done
    [ -n "$fifos" ] && printf '  fifo %s\n' $fifos >&2
    fail "$suite left processes or fifos behind (see above)"
}

# Every state directory a test creates lives below this one (tests/common reads
# LCD_TEST_TMPDIR; the C programs get theirs as an argument), so whatever a test
# leaves running can be found and stopped afterwards. Kept short: containerd's
# socket path must fit in 108 bytes.
TEST_TMP=$(mktemp -d /tmp/lcdt-XXXXXX) || lcd_die "cannot create a temporary directory"
chmod 0700 "$TEST_TMP"
cleaned=0
cleanup() {
    [ "$cleaned" = 1 ] && return 0
    cleaned=1
    if [ "${LCD_TEST_KEEP:-0}" = 1 ]; then
        lcd_log "keeping state directories in $TEST_TMP (LCD_TEST_KEEP=1); containerd daemons stopped"
        lcd_stop_tree "$TEST_TMP"
        return 0
    fi
    lcd_cleanup_tree "$TEST_TMP"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

summary() {
    cleanup
    echo
    echo "==== summary ===="
    local r
    for r in "${results[@]}"; do
        echo "$r"
    done
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

ROOTFS="$LCD_ROOT/build/rootfs"
export LCD_TEST_ROOTFS="$ROOTFS"
export LCD_TEST_TMPDIR="$TEST_TMP"
export LIBCONTAINERD_LIB="$LCD_ROOT/target/release/libcontainerd.so"
export LD_LIBRARY_PATH="$LCD_ROOT/target/release${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

lcd_log "setup"
if ! bash scripts/setup.sh; then
    fail "setup (scripts/setup.sh)"
    summary
fi

# The Debian userland fixture (debootstrap minbase, built once, then cached) for the
# default-spec tests; a failure here fails those tests too.
lcd_log "Debian rootfs fixture (scripts/debian-rootfs.sh)"
bash scripts/debian-rootfs.sh || fail "setup (scripts/debian-rootfs.sh)"
export LCD_TEST_DEBIAN_ROOTFS="$LCD_ROOT/build/debian-rootfs"

lcd_log "cargo build --release"
if ! cargo build --release; then
    fail "build (cargo build --release)"
    summary
fi

# ---- Rust: every unit, integration and doc test binary counts as one suite.
lcd_log "cargo test --release"
rust_log="$TEST_TMP/cargo-test.log"
timeout --kill-after=30 "${LCD_TEST_TIMEOUT:-2700}" \
    cargo test --release --no-fail-fast 2>&1 | tee "$rust_log"
rust_rc=${PIPESTATUS[0]}
# Every test binary cleans up what it started (the shared daemon at exit).
leftovers "rust cargo test" "$TEST_TMP"
lcd_stop_tree "$TEST_TMP"
current="rust"
counted=0
rust_ok=0
rust_bad=0
tests_passed=0
tests_failed=0
re_running='^[[:space:]]+Running (.+) \(.+\)$'
re_doc='^[[:space:]]+Doc-tests (.+)$'
re_counts='^test result: .* ([0-9]+) passed; ([0-9]+) failed;'
while IFS= read -r line; do
    line=${line%$'\r'}
    if [[ "$line" =~ $re_running ]]; then
        current=${BASH_REMATCH[1]}; counted=0
    elif [[ "$line" =~ $re_doc ]]; then
        current="doc-tests ${BASH_REMATCH[1]}"; counted=0
    elif [[ "$line" =~ ^test\ result:\ ok\.\ 0\ passed\;\ 0\ failed\; ]]; then
        # A binary that ran nothing passed nothing: the doc-tests of a crate without
        # doc examples are listed as skipped, any other test binary fails.
        counted=1
        if [[ "$current" == doc-tests* ]]; then
            skip "rust $current (no tests)"
        else
            rust_bad=$((rust_bad + 1)); fail "rust $current (ran no tests)"
        fi
    elif [[ "$line" == "test result: ok."* ]]; then
        rust_ok=$((rust_ok + 1)); counted=1; pass "rust $current"
    elif [[ "$line" == "test result: FAILED."* ]]; then
        rust_bad=$((rust_bad + 1)); counted=1; fail "rust $current"
    elif [[ "$line" == "error: test failed, to rerun pass"* ]] && [ "$counted" = 0 ]; then
        # The test binary died (a signal, an abort) before printing its result.
        rust_bad=$((rust_bad + 1)); counted=1; fail "rust $current (crashed before its result)"
    fi
    if [[ "$line" =~ $re_counts ]]; then
        tests_passed=$((tests_passed + BASH_REMATCH[1]))
        tests_failed=$((tests_failed + BASH_REMATCH[2]))
    fi
done <"$rust_log"
if [ "$rust_rc" -ne 0 ] && [ "$rust_bad" -eq 0 ]; then
    # A compile error, a crashed test binary or the timeout: no FAILED line to count.
    if [ "$rust_rc" -eq 124 ] || [ "$rust_rc" -eq 137 ]; then
        fail "rust cargo test (timed out after ${LCD_TEST_TIMEOUT:-2700}s)"
    else
        fail "rust cargo test (exit code $rust_rc)"
    fi
fi
if [ "$rust_ok" -eq 0 ] && [ "$rust_bad" -eq 0 ] && [ "$rust_rc" -eq 0 ]; then
    fail "rust cargo test (no test binary ran)"
fi
lcd_log "Rust: $rust_ok test binaries ok, $rust_bad failed ($tests_passed tests passed, $tests_failed tests failed)"

# ---- The fault and restore tests again with the shim pool on (LCD_TEST_SHIM_POOL:
#      the tests' remotes spread containers over two shared shims).
lcd_log "cargo test (fault and restore tests, shim pool on)"
if LCD_TEST_SHIM_POOL=2 timeout --kill-after=30 "${LCD_TEST_TIMEOUT:-2700}" \
    cargo test --release --test supervision --test restore --test host_restart; then
    pass "rust fault and restore tests, shim pool on"
else
    fail "rust fault and restore tests, shim pool on"
fi
leftovers "rust fault and restore tests, shim pool on" "$TEST_TMP"
lcd_stop_tree "$TEST_TMP"

# ---- C: every program of tests/c's TESTS list (`make list-tests`, which fails when a
#      tests/c/test_*.c is not in it; the sanitizer runs below use the same list) is
#      one suite, run as build/c/test_x <fresh state dir> <rootfs>.
c_tests=()
if [ -f tests/c/Makefile ]; then
    if ! c_list=$(make -s -C tests/c list-tests); then
        fail "c (make -C tests/c list-tests failed: a tests/c/test_*.c missing from TESTS?)"
    else
        mapfile -t c_tests < <(printf '%s\n' $c_list)
        [ "${#c_tests[@]}" -gt 0 ] || fail "c (tests/c lists no TESTS)"
    fi
fi
if [ -f tests/c/Makefile ] && [ "${#c_tests[@]}" -gt 0 ]; then
    lcd_log "make -C tests/c"
    if make -C tests/c; then
        c_ok=0
        c_bad=0
        for name in "${c_tests[@]}"; do
            prog="build/c/$name"
            if [ ! -x "$prog" ]; then
                c_bad=$((c_bad + 1)); fail "c $name (make built no $prog)"
                continue
            fi
            state=$(mktemp -d "$TEST_TMP/c-XXXXXX")
            lcd_log "C: $prog $state $ROOTFS"
            timeout --kill-after=10 "${LCD_C_TEST_TIMEOUT:-300}" "$prog" "$state" "$ROOTFS"
            rc=$?
            leftovers "c $name" "$state"
            lcd_stop_state_dir "$state"
            [ "${LCD_TEST_KEEP:-0}" = 1 ] || lcd_remove_dir "$state"
            if [ "$rc" -eq 0 ]; then
                c_ok=$((c_ok + 1)); pass "c $name"
            elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                c_bad=$((c_bad + 1)); fail "c $name (timed out after ${LCD_C_TEST_TIMEOUT:-300}s)"
            else
                c_bad=$((c_bad + 1)); fail "c $name (exit code $rc)"
            fi
        done
        lcd_log "C: $c_ok programs ok, $c_bad failed"
    else
        fail "c build (make -C tests/c)"
    fi
fi

# ---- C under sanitizers and valgrind: every program of tests/c's TESTS list, built
#      with AddressSanitizer + LeakSanitizer + UBSan (build/c/asan/) and run, then the
#      ordinary build run under valgrind memcheck. Each program under each tool is one
#      suite; any error or leak report fails it (tests/c/Makefile holds the options and
#      tests/c/suppressions/ the few justified suppressions).
if [ -f tests/c/Makefile ] && [ "${LCD_SANITIZE:-1}" = 0 ]; then
    skip "asan and valgrind runs of the C programs (LCD_SANITIZE=0)"
elif [ -f tests/c/Makefile ]; then
    san_tests=("${c_tests[@]}")
    # Runs one program: san_run <suite name> <timeout> <command...> (state dir and
    # rootfs are appended).
    san_run() {
        local suite=$1 limit=$2 state rc log
        shift 2
        state=$(mktemp -d "$TEST_TMP/s-XXXXXX")
        log="$state.log"
        lcd_log "$suite: $* $state $ROOTFS"
        timeout --kill-after=10 "$limit" "$@" "$state" "$ROOTFS" >"$log" 2>&1
        rc=$?
        cat "$log"
        leftovers "$suite" "$state"
        lcd_stop_state_dir "$state"
        [ "${LCD_TEST_KEEP:-0}" = 1 ] || lcd_remove_dir "$state"
        if [ "$rc" -eq 0 ]; then
            pass "$suite"
        elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            fail "$suite (timed out after ${limit}s)"
        elif [ "$rc" -eq 23 ]; then
            fail "$suite (error or leak report, see above)"
        else
            fail "$suite (exit code $rc)"
        fi
    }
    if [ "${#san_tests[@]}" -eq 0 ]; then
        fail "sanitizers (tests/c lists no TESTS)"
    fi
    lcd_log "make -C tests/c asan"
    asan_env=()
    if make -C tests/c asan; then
        read -ra asan_env < <(make -s -C tests/c asan-env)
    fi
    if [ "${#asan_env[@]}" -eq 0 ] || [[ "${asan_env[*]}" != *ASAN_OPTIONS=* ]]; then
        # Without its options a sanitizer neither stops at a report nor exits 23.
        fail "asan (make -C tests/c asan failed or asan-env printed no ASAN_OPTIONS; gcc's libasan and libubsan come with build-essential)"
    else
        # A planted leak and use-after-free of library memory must be reported, or a
        # clean run below proves nothing.
        if make -s -C tests/c asan-canary; then
            pass "asan canary (planted leak and use-after-free reported)"
        else
            fail "asan canary (a planted leak or use-after-free went unreported)"
        fi
        for t in "${san_tests[@]}"; do
            san_run "asan $t" "${LCD_C_TEST_TIMEOUT:-300}" env "${asan_env[@]}" "build/c/asan/$t"
        done
    fi
    vg_cmd=()
    if ! command -v valgrind >/dev/null 2>&1; then
        fail "valgrind (not found on PATH; scripts/setup.sh installs it)"
    elif ! make -C tests/c all; then
        fail "valgrind build (make -C tests/c)"
    else
        read -ra vg_cmd < <(make -s -C tests/c valgrind-cmd)
        vg_scale=$(make -s -C tests/c valgrind-time-scale)
        if [ "${#vg_cmd[@]}" -lt 2 ] || ! command -v "${vg_cmd[0]}" >/dev/null 2>&1 ||
            [[ "${vg_cmd[*]}" != *--error-exitcode=23* ]]; then
            # An empty or broken command would run the programs bare and prove nothing.
            fail "valgrind (make -C tests/c valgrind-cmd printed no usable command: '${vg_cmd[*]}')"
            vg_cmd=()
        fi
    fi
    if [ "${#vg_cmd[@]}" -gt 0 ]; then
        if make -s -C tests/c valgrind-canary; then
            pass "valgrind canary (planted leak and use-after-free reported)"
        else
            fail "valgrind canary (a planted leak or use-after-free went unreported)"
        fi
        for t in "${san_tests[@]}"; do
            san_run "valgrind $t" "${LCD_VALGRIND_TIMEOUT:-900}" \
                env LCD_TEST_TIME_SCALE="$vg_scale" "${vg_cmd[@]}" "build/c/$t"
        done
    fi
fi

# ---- Fuzz smoke: every cargo-fuzz target (fuzz/) runs LCD_FUZZ_SECONDS from the
#      committed seeds; each target is one suite. Needs a nightly toolchain and
#      cargo-fuzz (pinned), installed here when missing. A crash leaves its input in
#      fuzz/artifacts/<target>/.
LCD_CARGO_FUZZ_VERSION=0.13.1
fuzz_seconds=${LCD_FUZZ_SECONDS:-30}
if [ -d fuzz ] && [ "$fuzz_seconds" = 0 ]; then
    skip "fuzz smoke (LCD_FUZZ_SECONDS=0)"
elif [ -d fuzz ]; then
    lcd_log "fuzz smoke: ${fuzz_seconds}s per target"
    fuzz_ready=1
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        rustup toolchain install nightly --profile minimal || fuzz_ready=0
    fi
    if [ "$fuzz_ready" = 1 ] && ! cargo fuzz --version 2>/dev/null | grep -F "$LCD_CARGO_FUZZ_VERSION" >/dev/null; then
        cargo install cargo-fuzz --version "$LCD_CARGO_FUZZ_VERSION" --locked || fuzz_ready=0
    fi
    if [ "$fuzz_ready" = 0 ]; then
        fail "fuzz (could not install the nightly toolchain or cargo-fuzz $LCD_CARGO_FUZZ_VERSION)"
    elif ! cargo +nightly fuzz build -O; then
        fail "fuzz build (cargo +nightly fuzz build -O)"
    elif ! fuzz_targets=$(cargo +nightly fuzz list) || [ -z "$fuzz_targets" ]; then
        fail "fuzz (cargo fuzz list failed or listed no target)"
    else
        for target in $fuzz_targets; do
            corpus="$TEST_TMP/fuzz/$target"
            mkdir -p "$corpus" "fuzz/artifacts/$target"
            lcd_log "fuzz: $target for ${fuzz_seconds}s"
            timeout --kill-after=30 $((fuzz_seconds + 300)) \
                cargo +nightly fuzz run -O "$target" "$corpus" "fuzz/seeds/$target" -- \
                -max_total_time="$fuzz_seconds" -dict=fuzz/dict/json.dict -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 >"$TEST_TMP/fuzz-$target.log" 2>&1
            rc=$?
            grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$TEST_TMP/fuzz-$target.log"
            if [ "$rc" -eq 0 ]; then
                pass "fuzz $target"
            else
                tail -40 "$TEST_TMP/fuzz-$target.log"
                fail "fuzz $target (exit code $rc; see fuzz/artifacts/$target)"
            fi
        done
    fi
fi

# ---- Install and packages (scripts/install-check.sh): `make install` into a
#      temporary prefix, then a C program (dynamic and static), a Go module and a
#      Python wheel outside the repository use it, and the sdist builds; each check is
#      one suite. `make dev-pkgconfig` first writes build/pkgconfig*/ for the Go section.
install_work="$TEST_TMP/inst"
lcd_log "make dev-pkgconfig"
make dev-pkgconfig || fail "install make dev-pkgconfig (cargo-c: scripts/setup.sh installs it)"
for check in install soname stripped c c-static go wheel sdist; do
    lcd_log "install check: $check"
    timeout --kill-after=30 "${LCD_INSTALL_CHECK_TIMEOUT:-1800}" \
        scripts/install-check.sh "$check" "$install_work" "$ROOTFS"
    rc=$?
    lcd_stop_tree "$install_work"
    if [ "$rc" -eq 0 ]; then pass "install $check"; else fail "install $check (exit code $rc)"; fi
done

# ---- Go bindings (bindings/go): go vet, the tests under the race detector with
#      cgo pointer checks, a run with the GC at every allocation step (GOGC=1), and
#      a build and short run linked against the static library. Installs Debian's
#      golang-go when no Go toolchain is on PATH. Each step is one suite.
if [ -d bindings/go ]; then
    if ! command -v go >/dev/null 2>&1; then
        lcd_log "installing golang-go (no Go toolchain on PATH)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go ||
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go; }
    fi
    if ! command -v go >/dev/null 2>&1; then
        fail "go (no Go toolchain on PATH and golang-go could not be installed)"
    else
        go_step() { # go_step NAME COMMAND...: one suite, run in bindings/go
            local name=$1 rc
            shift
            lcd_log "go: $name"
            (cd bindings/go && CGO_ENABLED=1 timeout --kill-after=30 "${LCD_GO_TEST_TIMEOUT:-900}" "$@")
            rc=$?
            leftovers "go $name" "$TEST_TMP"
            lcd_stop_tree "$TEST_TMP"
            if [ "$rc" -eq 0 ]; then
                pass "go $name"
            elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                fail "go $name (timed out after ${LCD_GO_TEST_TIMEOUT:-900}s)"
            else
                fail "go $name (exit code $rc)"
            fi
        }
        # The binding links through pkg-config (build/pkgconfig*: make dev-pkgconfig).
        export PKG_CONFIG_PATH="$LCD_ROOT/build/pkgconfig"
        go_step "vet" go vet ./...
        go_step "test -race (GODEBUG=cgocheck=1)" env GODEBUG=cgocheck=1 go test -race -count=1 ./...
        go_step "test (GOGC=1)" env GOGC=1 go test -count=1 ./...
        go_step "test (static, -tags libcontainerd_static)" \
            env PKG_CONFIG_PATH="$LCD_ROOT/build/pkgconfig-static" go test -tags libcontainerd_static -count=1 -run 'TestCreateReportsStartAndExitCode|TestABIVersionCheck|Example' ./...
    fi
fi

# ---- Python bindings (bindings/python): installed with pip into a virtual
#      environment under build/ (as a user would: `pip install ./bindings/python`,
#      bundling the library built above instead of running cargo again; the install
#      checks build the wheel with cargo), then pytest and `mypy --strict`, each
#      counted as one suite.
if [ -d bindings/python ]; then
    lcd_log "pytest (bindings/python)"
    venv="$LCD_ROOT/build/venv"
    # Debian's python3 needs python3-venv for `python3 -m venv`.
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        lcd_log "installing Debian packages: python3 python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv ||
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv; }
    fi
    if { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } &&
        "$venv/bin/python" -m pip install -q pytest mypy &&
        LIBCONTAINERD_BUILD_LIB="$LCD_ROOT/target/release/libcontainerd.so" \
            "$venv/bin/python" -m pip install -q --force-reinstall --no-deps ./bindings/python; then
        (cd bindings/python && timeout --kill-after=30 "${LCD_PY_TEST_TIMEOUT:-900}" "$venv/bin/python" -m pytest -p no:cacheprovider)
        rc=$?
        leftovers "python bindings/python (pytest)" "$TEST_TMP"
        lcd_stop_tree "$TEST_TMP"
        case "$rc" in
            0) pass "python bindings/python (pytest)" ;;
            5) fail "python bindings/python (pytest collected no tests)" ;;
            *) fail "python bindings/python (pytest exit code $rc)" ;;
        esac
        lcd_log "mypy --strict (bindings/python)"
        if (cd bindings/python && "$venv/bin/python" -m mypy --strict --cache-dir "$TEST_TMP/mypy-cache" src/libcontainerd tests ../../examples/python); then
            pass "python mypy --strict bindings/python"
        else
            fail "python mypy --strict bindings/python"
        fi
    else
        fail "python bindings/python (could not install the package, pytest and mypy)"
    fi
fi

# ---- Examples: the C demo (examples/demo.c) in Go (examples/go) and in Python, blocking
#      and asyncio (examples/python), each run as `<program> <fresh state dir> <rootfs>`
#      and counted as one suite. Each pulls the test image from a registry started here
#      (LCD_DEMO_REGISTRY) with a progress line and runs a container from it: a run that
#      shows no finished blob or not the image container's output fails.
example_registry="$TEST_TMP/example-registry"
if LCD_DEMO_REGISTRY=$(bash scripts/test-registry.sh seed "$example_registry"); then
    export LCD_DEMO_REGISTRY
else
    fail "example registry (scripts/test-registry.sh seed)"
fi
example_run() { # example_run NAME DIR COMMAND...: one suite, run in DIR
    local name=$1 dir=$2 state rc
    shift 2
    state=$(mktemp -d "$TEST_TMP/e-XXXXXX")
    lcd_log "example: $name"
    (cd "$dir" && timeout --kill-after=10 "${LCD_C_TEST_TIMEOUT:-300}" "$@" "$state" "$ROOTFS") | tee "$state.out"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ] && ! { grep -q '^pull: .* done ' "$state.out" && grep -q '^\[demo-image/init stdout\] hello from layer 2$' "$state.out"; }; then
        echo "example $name: no pull progress, or no output from the container of the pulled image" >&2
        rc=1
    fi
    lcd_stop_state_dir "$state"
    [ "${LCD_TEST_KEEP:-0}" = 1 ] || { lcd_remove_dir "$state"; rm -f "$state.out"; }
    if [ "$rc" -eq 0 ]; then pass "example $name"; else fail "example $name (exit code $rc)"; fi
}
if [ -x build/c/demo ]; then
    example_run "c (examples/demo.c)" . "$LCD_ROOT/build/c/demo"
else
    fail "example c (examples/demo.c: make -C tests/c built no build/c/demo)"
fi
if [ -d examples/go ]; then
    if command -v go >/dev/null 2>&1; then
        example_run "go (examples/go)" examples/go env CGO_ENABLED=1 go run .
    else
        fail "example go (examples/go: no Go toolchain on PATH)"
    fi
fi
if [ -d examples/python ]; then
    for demo in demo.py demo_asyncio.py; do
        if [ -x "$LCD_ROOT/build/venv/bin/python" ]; then
            example_run "python (examples/python/$demo)" . "$LCD_ROOT/build/venv/bin/python" "examples/python/$demo"
        else
            fail "example python (examples/python/$demo: no build/venv with the binding)"
        fi
    done
fi
bash scripts/test-registry.sh stop "$example_registry"
unset LCD_DEMO_REGISTRY

# ---- Benchmark report: verdicts and analysis follow the run's figures (unit tests).
if python3 -m unittest discover -s bench -p 'test_*.py'; then
    pass "bench report unit tests"
else
    fail "bench report unit tests"
fi

# ---- Benchmark smoke: every workload of the benchmark harness (bench/) with a few
# iterations, against a containerd of its own below $TEST_TMP; outputs go to
# $TEST_TMP/bench, not docs/. Fails if any driver fails (targets are not judged here).
lcd_log "benchmark smoke (scripts/bench.sh --smoke)"
mkdir -p "$TEST_TMP/bench"
timeout --kill-after=30 "${LCD_BENCH_SMOKE_TIMEOUT:-900}" ./scripts/bench.sh --smoke \
    --report "$TEST_TMP/bench/BENCHMARKS.md" --chart "$TEST_TMP/bench/benchmarks.png" \
    --results "$TEST_TMP/bench/results.json"
rc=$?
leftovers "bench smoke" "$TEST_TMP"
lcd_stop_tree "$TEST_TMP"
if [ "$rc" -eq 0 ] && [ -s "$TEST_TMP/bench/BENCHMARKS.md" ] && [ -s "$TEST_TMP/bench/benchmarks.png" ]; then
    pass "bench smoke"
else
    fail "bench smoke (exit code $rc)"
fi

summary
