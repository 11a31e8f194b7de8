package libcontainerd

/*
#include <stdint.h>
#include "libcontainerd.h"

lcd_error *lcd_go_log_set(int32_t max_level, uintptr_t handle);
*/
import "C"

import (
	"context"
	"log/slog"
	"runtime/cgo"
	"sync"
)

// LevelTrace is the slog level of the library's trace records (below slog.LevelDebug).
const LevelTrace = slog.LevelDebug - 4

// The library's levels (lcd_log_set_callback's 1 error … 5 trace) as slog levels.
var logLevels = [...]slog.Level{1: slog.LevelError, 2: slog.LevelWarn, 3: slog.LevelInfo, 4: slog.LevelDebug, 5: LevelTrace}

var (
	logMu     sync.Mutex
	logHandle cgo.Handle // of the current *slog.Logger; 0 when off
)

// SetLogger sends the library's log records to l (nil turns forwarding off, the
// default). Process-wide: the library's logger is global, and the last call wins.
//
// Records arrive at l's handler on a thread the library owns, in order, with the
// attribute "target" naming the part of the library that logged (e.g.
// "containerd::remote::supervisor"): containerd relaunched (slog.LevelError or
// LevelWarn), health checks that failed, and lifecycle details at slog.LevelDebug.
// Only the levels l is enabled for at this call are forwarded: after changing the
// handler's level, call SetLogger again. A slow handler never delays the library's
// calls or events; when it falls behind by more than 4096 records, newer records are
// dropped and a warning says how many.
//
// When SetLogger returns, the previous logger is not being called and will not be
// called again. Do not call SetLogger from inside l's handler.
func SetLogger(l *slog.Logger) error {
	logMu.Lock()
	defer logMu.Unlock()
	level := 0
	if l != nil {
		for lv := len(logLevels) - 1; lv >= 1; lv-- {
			if l.Enabled(context.Background(), logLevels[lv]) {
				level = lv
				break
			}
		}
	}
	var h cgo.Handle
	var err error
	if level > 0 {
		h = cgo.NewHandle(l)
		err = takeError(C.lcd_go_log_set(C.int32_t(level), C.uintptr_t(h)))
	} else {
		err = takeError(C.lcd_log_set_callback(0, nil, nil))
	}
	if err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	// lcd_log_set_callback returned: the previous handle is no longer in use.
	if logHandle != 0 {
		logHandle.Delete()
	}
	logHandle = h
	return nil
}

//export lcdGoLog
func lcdGoLog(h C.uintptr_t, level C.int32_t, target, message *C.char) {
	defer func() {
		// A panicking handler loses its record, nothing more.
		_ = recover()
	}()
	l, ok := cgo.Handle(h).Value().(*slog.Logger)
	if !ok || level < 1 || int(level) >= len(logLevels) {
		return
	}
	l.Log(context.Background(), logLevels[level], C.GoString(message), slog.String("target", C.GoString(target)))
}
