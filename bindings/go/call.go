// Deadlines and cancellation: a context.Context turned into the lcd_call of one
// blocking library call.

package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import (
	"context"
	"errors"
	"time"
)

// withCall runs f with an lcd_call that carries ctx's deadline and is cancelled when
// ctx is done, and returns f's error. A ctx that is done before the call starts fails
// it at once with ctx's error, and nothing reaches the library. While f runs, a
// cancelled ctx cancels the library's work (the library call returns CANCELLED within
// 100 ms); the lcd_call is freed only after f has returned and the cancel, if one
// was started, has finished. A CANCELLED or DEADLINE_EXCEEDED error of a call whose
// ctx is done carries ctx's error, so errors.Is finds context.Canceled or
// context.DeadlineExceeded according to why ctx ended.
func withCall(ctx context.Context, f func(call *C.lcd_call) error) error {
	if ctx == nil {
		return invalidArgument("context is nil")
	}
	if err := ctx.Err(); err != nil {
		return contextError(err)
	}
	if ctx.Done() == nil {
		// A context that can never be cancelled nor reach a deadline
		// (context.Background): the library's defaults, no lcd_call at all.
		return f(nil)
	}
	call := C.lcd_call_new()
	if call == nil {
		return &Error{Code: CodeInternal, Message: "lcd_call_new failed"}
	}
	defer C.lcd_call_free(call)
	if deadline, ok := ctx.Deadline(); ok {
		C.lcd_call_set_timeout_ms(call, C.uint64_t(timeoutMillis(time.Until(deadline))))
	}
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(cancelled)
		C.lcd_call_cancel(call)
	})
	err := f(call)
	if !stop() {
		// The cancel has started (or ran): the call must outlive it.
		<-cancelled
	}
	return withContextCause(ctx, err)
}

// timeoutMillis turns the time left before a deadline into the milliseconds of
// lcd_call_set_timeout_ms, rounded up; never 0 (which means "no deadline" there).
func timeoutMillis(d time.Duration) uint64 {
	if d <= 0 {
		return 1
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		ms = 1
	}
	return uint64(ms)
}

// withContextCause gives a CANCELLED or DEADLINE_EXCEEDED error of the library the
// reason ctx ended for, when it has ended: the library may see a cancel before its own
// timer at the deadline fires, and the caller asked about ctx.
func withContextCause(ctx context.Context, err error) error {
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	if e.Code != CodeCancelled && e.Code != CodeDeadlineExceeded {
		return err
	}
	cause := ctx.Err()
	if cause == nil {
		return err
	}
	code := CodeCancelled
	if errors.Is(cause, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return &Error{Code: code, Message: e.Message, cause: cause}
}
