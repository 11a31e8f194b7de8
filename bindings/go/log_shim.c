/* C side of SetLogger (log.go): an lcd_log_fn whose user_data is a cgo.Handle (an
 * integer, never a Go pointer) of the *slog.Logger, forwarding to lcdGoLog. */
#include <stdint.h>

#include "libcontainerd.h"
#include "_cgo_export.h"

static void go_log(void *user_data, int32_t level, const char *target, const char *message) {
    lcdGoLog((uintptr_t)user_data, level, (char *)target, (char *)message);
}

lcd_error *lcd_go_log_set(int32_t max_level, uintptr_t handle) {
    return lcd_log_set_callback(max_level, go_log, (void *)handle);
}
