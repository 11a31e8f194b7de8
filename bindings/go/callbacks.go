package libcontainerd

// The functions the C backend table (shims.c) calls. user_data is a cgo.Handle of a
// *callbackTarget: no Go pointer crosses into C.

/*
#include "libcontainerd.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/cgo"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// callbackTarget is what a client's cgo.Handle refers to.
type callbackTarget struct {
	backend Backend

	mu      sync.Mutex
	running map[int64]int // goroutines running a callback of the client: nesting depth
}

// target resolves a client's handle.
func target(h C.uintptr_t) *callbackTarget {
	return cgo.Handle(h).Value().(*callbackTarget)
}

// enter records that the calling goroutine runs one of the client's callbacks until
// the function it returns is called.
func (t *callbackTarget) enter() func() {
	g := goroutineID()
	t.mu.Lock()
	if t.running == nil {
		t.running = make(map[int64]int)
	}
	t.running[g]++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if t.running[g]--; t.running[g] == 0 {
			delete(t.running, g)
		}
		t.mu.Unlock()
	}
}

// inside reports whether goroutine g is running one of the client's callbacks.
func (t *callbackTarget) inside(g int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.running[g] > 0
}

// goroutineID is the calling goroutine's id, read from the header of its stack trace
// ("goroutine 42 [running]:"); Go offers no other way, and Close needs to know
// whether it runs inside a callback it would otherwise wait for.
func goroutineID() int64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	if i := strings.IndexByte(s, ' '); i > 0 {
		if id, err := strconv.ParseInt(s[:i], 10, 64); err == nil {
			return id
		}
	}
	return -1
}

// panicError makes the error a recovered panic in callback `what` returns to the
// library.
func panicError(what string, v interface{}) *C.lcd_error {
	return newCError(&Error{
		Code:    CodeInternal,
		Message: fmt.Sprintf("panic in Backend.%s: %v\n%s", what, v, debug.Stack()),
	})
}

//export lcdGoStateChanged
func lcdGoStateChanged(h C.uintptr_t, containerID *C.char, info *C.lcd_state_info) (ret *C.lcd_error) {
	defer func() {
		if v := recover(); v != nil {
			ret = panicError("StateChanged", v)
		}
	}()
	t := target(h)
	defer t.enter()()
	si := StateInfo{
		State:     State(C.GoString(info.state)),
		Pid:       uint32(info.pid),
		ExitCode:  uint32(info.exit_code),
		ProcessID: C.GoString(info.process_id),
		OOMKilled: bool(info.oom_killed),
	}
	if info.exited_at_unix_nano != 0 {
		si.ExitedAt = time.Unix(0, int64(info.exited_at_unix_nano))
	}
	if err := t.backend.StateChanged(C.GoString(containerID), si); err != nil {
		return newCError(err)
	}
	return nil
}

//export lcdGoAttachStreams
func lcdGoAttachStreams(h C.uintptr_t, containerID, processID *C.char, io *C.lcd_io_pipe) (ret *C.lcd_error) {
	cid, pid := C.GoString(containerID), C.GoString(processID)
	pipe, files, err := newIOPipe(cid, pid, int(io.stdin_fd), int(io.stdout_fd), int(io.stderr_fd), bool(io.terminal))
	if err != nil {
		return newCError(err)
	}
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	defer func() {
		if v := recover(); v != nil {
			closeAll()
			ret = panicError("AttachStreams", v)
		}
	}()
	t := target(h)
	defer t.enter()()
	if err := t.backend.AttachStreams(cid, pid, pipe); err != nil {
		closeAll()
		return newCError(err)
	}
	return nil
}

//export lcdGoUserDataFree
func lcdGoUserDataFree(h C.uintptr_t) {
	releaseTarget(uintptr(h))
}

// releaseTarget deletes a client's cgo.Handle (its user_data_free). A panic here (a
// handle released twice or never made) must not unwind into the library, which
// would abort the program: it is recovered and reported on stderr.
func releaseTarget(h uintptr) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "libcontainerd: panic releasing a client's callbacks: %v\n%s", v, debug.Stack())
		}
	}()
	cgo.Handle(h).Delete()
}

// newIOPipe wraps the descriptors of a process's stdio in *os.Files. A missing one
// (-1: stderr with a terminal) becomes /dev/null, so every stream is usable. On
// error every descriptor is closed.
func newIOPipe(containerID, processID string, stdin, stdout, stderr int, terminal bool) (IOPipe, []*os.File, error) {
	name := containerID + "/" + processID
	fds := []int{stdin, stdout, stderr}
	suffixes := []string{"stdin", "stdout", "stderr"}
	flags := []int{os.O_WRONLY, os.O_RDONLY, os.O_RDONLY}
	files := make([]*os.File, 0, 3)
	for i, fd := range fds {
		var f *os.File
		if fd >= 0 {
			f = os.NewFile(uintptr(fd), name+"-"+suffixes[i])
		}
		if f == nil {
			var err error
			if f, err = os.OpenFile(os.DevNull, flags[i], 0); err != nil {
				for _, g := range files {
					g.Close()
				}
				for _, fd := range fds[i+1:] {
					if fd >= 0 {
						syscall.Close(fd)
					}
				}
				return IOPipe{}, nil, &Error{Code: CodeIO, Message: err.Error()}
			}
		}
		files = append(files, f)
	}
	return IOPipe{Stdin: files[0], Stdout: files[1], Stderr: files[2], Terminal: terminal}, files, nil
}
