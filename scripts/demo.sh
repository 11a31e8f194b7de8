#!/usr/bin/env bash
# Builds libcontainerd and runs the C demo (examples/demo.c) against a containerd
# that the library starts in a temporary state directory. Needs root.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lcd_setup_path
lcd_require_root scripts/demo.sh
cd "$LCD_ROOT"

bash scripts/setup.sh

lcd_log "cargo build --release"
cargo build --release

lcd_log "compiling examples/demo.c"
mkdir -p build
gcc -Wall -Wextra -Werror -std=c11 -Iinclude examples/demo.c \
    -Ltarget/release -lcontainerd -Wl,-rpath,"$PWD/target/release" -lpthread -o build/demo

state=$(mktemp -d /tmp/lcd-demo-XXXXXX)
chmod 0700 "$state"
cleanup() {
    lcd_stop_state_dir "$state"
    lcd_remove_dir "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lcd_log "build/demo $state $LCD_ROOT/build/rootfs"
build/demo "$state" "$LCD_ROOT/build/rootfs"
