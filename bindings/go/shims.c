/* The lcd_backend table of the Go binding. user_data carries a cgo.Handle (an
 * integer, never a Go pointer); each entry forwards to a function exported by
 * callbacks.go. */
#include "shims.h"

#include "_cgo_export.h"

static lcd_error *go_state_changed(void *user_data, const char *container_id,
                                   const lcd_state_info *info) {
    return lcdGoStateChanged((uintptr_t)user_data, (char *)container_id,
                             (lcd_state_info *)info);
}

static lcd_error *go_attach_streams(void *user_data, const char *container_id,
                                    const char *process_id, const lcd_io_pipe *io) {
    return lcdGoAttachStreams((uintptr_t)user_data, (char *)container_id,
                              (char *)process_id, (lcd_io_pipe *)io);
}

static void go_user_data_free(void *user_data) {
    lcdGoUserDataFree((uintptr_t)user_data);
}

lcd_error *lcd_go_remote_client(lcd_remote *r, uintptr_t handle, lcd_client **out,
                                          const lcd_call *call) {
    lcd_backend backend = {
        .struct_size = sizeof(lcd_backend),
        .user_data = (void *)handle,
        .state_changed = go_state_changed,
        .attach_streams = go_attach_streams,
        .user_data_free = go_user_data_free,
    };
    return lcd_remote_client(r, &backend, out, call);
}

lcd_error *lcd_go_remote_client_events_only(lcd_remote *r, uintptr_t handle, lcd_client **out,
                                          const lcd_call *call) {
    lcd_backend backend = {
        .struct_size = sizeof(lcd_backend),
        .user_data = (void *)handle,
        .state_changed = go_state_changed,
        .attach_streams = NULL,
        .user_data_free = go_user_data_free,
    };
    return lcd_remote_client(r, &backend, out, call);
}
