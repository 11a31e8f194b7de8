/* C side of the Go binding: the lcd_backend table whose entries forward to the Go
 * functions exported in callbacks.go. */
#ifndef LIBCONTAINERD_GO_SHIMS_H
#define LIBCONTAINERD_GO_SHIMS_H

#include <stdint.h>
#include <stdlib.h>

#include "libcontainerd.h"

/* lcd_remote_client with a backend whose user_data is the cgo.Handle `handle`. */
lcd_error *lcd_go_remote_client(lcd_remote *r, uintptr_t handle, lcd_client **out,
                                          const lcd_call *call);

/* The same with no attach_streams callback: the library closes every process's stdin
 * and discards its output itself (DiscardStreams). */
lcd_error *lcd_go_remote_client_events_only(lcd_remote *r, uintptr_t handle, lcd_client **out,
                                          const lcd_call *call);

#endif
