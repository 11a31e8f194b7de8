package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// handle guards a library handle that must not be freed while a call on it is in
// flight: the handle holds one reference while open and each call one more; whoever
// drops the last reference frees it. Close therefore never waits for calls in flight
// (so it may be called from inside a callback that runs within a call on the same
// handle), and a call never runs on a freed handle.
type handle struct {
	mu     sync.Mutex
	ptr    unsafe.Pointer
	refs   int
	closed bool
	free   func(unsafe.Pointer)
	freed  chan struct{} // closed once free has returned
}

// init takes ownership of ptr, to be released with free.
func (h *handle) init(ptr unsafe.Pointer, free func(unsafe.Pointer)) {
	h.ptr = ptr
	h.refs = 1
	h.free = free
	h.freed = make(chan struct{})
}

// waitFreed blocks until the library handle has been freed (the last call in
// flight has returned and free with it).
func (h *handle) waitFreed() {
	<-h.freed
}

// acquire returns the pointer for one call, or ErrClosed; release must follow.
func (h *handle) acquire() (unsafe.Pointer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.ptr == nil {
		return nil, ErrClosed
	}
	h.refs++
	return h.ptr, nil
}

// call runs f with the pointer, unless the handle is closed, and turns the error f
// returns into a Go error. The handle (and the Remote or Client holding it) stays
// alive and unfreed until f has returned.
func (h *handle) call(f func(p unsafe.Pointer) *C.lcd_error) error {
	p, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	err = takeError(f(p))
	runtime.KeepAlive(h)
	return err
}

// release ends a call begun with acquire.
func (h *handle) release() {
	h.unref()
}

// close drops the open reference; false if the handle was closed already.
func (h *handle) close() bool {
	h.mu.Lock()
	if h.closed || h.ptr == nil {
		h.mu.Unlock()
		return false
	}
	h.closed = true
	h.mu.Unlock()
	h.unref()
	return true
}

func (h *handle) unref() {
	h.mu.Lock()
	h.refs--
	if h.refs > 0 {
		h.mu.Unlock()
		return
	}
	p := h.ptr
	h.ptr = nil
	h.mu.Unlock()
	defer close(h.freed)
	h.free(p)
}
