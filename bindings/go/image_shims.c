/* The progress callback of the Go binding's image pull: user_data carries a
 * cgo.Handle (an integer, never a Go pointer) and the call forwards to the function
 * image.go exports. */
#include <stdint.h>

#include "libcontainerd.h"
#include "_cgo_export.h"

static void go_progress(void *user_data, const char *progress_json) {
    lcdGoProgress((uintptr_t)user_data, (char *)progress_json);
}

lcd_error *lcd_go_remote_image_pull(lcd_remote *r, const char *ref, const char *options_json,
                                    uintptr_t handle, char **image_json, const lcd_call *call) {
    return lcd_remote_image_pull(r, ref, options_json, handle ? go_progress : NULL,
                                 (void *)handle, image_json, call);
}
