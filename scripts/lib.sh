# Shared helpers for the project's scripts; sourced, not run.
# shellcheck shell=bash

# Repository root (the directory above scripts/), for the scripts that source this.
# shellcheck disable=SC2034
LCD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Toolchains installed per user (rustup, Go) and the sbin directories (runc lives in
# /usr/sbin) may be missing from a non-login PATH.
lcd_setup_path() {
    local d home="${HOME:-/root}"
    for d in /usr/local/sbin /usr/sbin /sbin /usr/local/go/bin "$home/go/bin" "$home/.cargo/bin"; do
        if [ -d "$d" ]; then
            case ":$PATH:" in
                *":$d:"*) ;;
                *) PATH="$d:$PATH" ;;
            esac
        fi
    done
    export PATH
}

lcd_log() { printf '==> %s\n' "$*"; }
lcd_warn() { printf 'warning: %s\n' "$*" >&2; }
lcd_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

lcd_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        lcd_die "$1 must run as root: containers need root (try: sudo $1)"
    fi
}

# Whether process $1 is alive and its command line mentions $2.
lcd_pid_matches() {
    local pid=$1 needle=$2 cmd
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmd" == *"$needle"* ]]
}

# Pids of processes whose command line mentions $1 (never this shell or its parents).
lcd_pids_mentioning() {
    local needle=$1 p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$$" ] && continue
        [ "$p" = "$BASHPID" ] && continue
        if lcd_pid_matches "$p" "$needle"; then
            echo "$p"
        fi
    done
}

# Stops what a test left under one state dir: its containers (through its own
# containerd socket, with ctr), the containerd recorded in
# <state_dir>/containerd/containerd.pid (only if that process really belongs to this
# state dir; never the system containerd), and leftover shims of that socket.
lcd_stop_state_dir() {
    local dir=$1
    [ -d "$dir" ] || return 0
    local pidfile="$dir/containerd/containerd.pid"
    local sock="$dir/containerd/containerd.sock"
    local pid=""
    [ -r "$pidfile" ] && pid=$(tr -dc '0-9' <"$pidfile")

    if [ -n "$pid" ] && lcd_pid_matches "$pid" "$dir" && [ -S "$sock" ] && command -v ctr >/dev/null 2>&1; then
        local ns id
        for ns in $(timeout 10 ctr --address "$sock" namespaces ls -q 2>/dev/null); do
            for id in $(timeout 10 ctr --address "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
                timeout 10 ctr --address "$sock" -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
            done
            for id in $(timeout 10 ctr --address "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
                timeout 20 ctr --address "$sock" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
            done
            for id in $(timeout 10 ctr --address "$sock" -n "$ns" containers ls -q 2>/dev/null); do
                timeout 10 ctr --address "$sock" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
            done
        done
    fi

    if [ -n "$pid" ] && lcd_pid_matches "$pid" "$dir"; then
        kill -TERM "$pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 50); do
            lcd_pid_matches "$pid" "$dir" || break
            sleep 0.2
        done
        if lcd_pid_matches "$pid" "$dir"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        lcd_log "stopped containerd $pid of $dir"
    fi

    # Shims (containerd-shim-runc-v2 -address <sock>) and anything else still
    # running with this state dir on its command line.
    local p
    for p in $(lcd_pids_mentioning "$dir"); do
        kill -KILL "$p" 2>/dev/null || true
    done
}

# Unmounts whatever is still mounted under $1 (deepest first), then removes it.
lcd_remove_dir() {
    local dir=$1 m mounts
    [ -d "$dir" ] || return 0
    mapfile -t mounts < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    for m in "${mounts[@]}"; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$dir" 2>/dev/null || rm -rf "$dir" 2>/dev/null || lcd_warn "could not remove $dir"
}

# Stops everything that runs under any state dir below $1 (a parent of temporary
# state dirs), keeping the files.
lcd_stop_tree() {
    local top=$1 pf pidfiles
    [ -d "$top" ] || return 0
    mapfile -t pidfiles < <(find "$top" -xdev -path '*/containerd/containerd.pid' -type f 2>/dev/null)
    for pf in "${pidfiles[@]}"; do
        lcd_stop_state_dir "$(dirname "$(dirname "$pf")")"
    done
    # Test registries (scripts/test-registry.sh) left running below $top.
    local pid
    while IFS= read -r pf; do
        pid=$(cat "$pf" 2>/dev/null) || continue
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = docker-registry ] && kill -KILL "$pid" 2>/dev/null
        rm -f "$pf"
    done < <(find "$top" -xdev -name registry.pid -type f 2>/dev/null)
    lcd_stop_orphans "$top"
}

# Containers and shims a test left behind after its daemon was already gone (a test
# that failed half-way with live restore on): the containers are removed through the
# runc state root the library keeps under each state dir (<state_dir>/runc/<ns>), then
# the shims whose containerd address lies below $1 are killed.
lcd_stop_orphans() {
    local top=$1 root id pid
    command -v runc >/dev/null 2>&1 || return 0
    while IFS= read -r root; do
        for id in $(timeout 10 runc --root "$root" list -q 2>/dev/null); do
            timeout 20 runc --root "$root" delete -f "$id" >/dev/null 2>&1 || true
        done
    done < <(find "$top" -xdev -mindepth 3 -maxdepth 3 -path '*/runc/*' -type d 2>/dev/null)
    for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $top/" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# lcd_stop_tree, then removes $1.
lcd_cleanup_tree() {
    lcd_stop_tree "$1"
    lcd_remove_dir "$1"
}
