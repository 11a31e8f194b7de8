package libcontainerd

// Output nobody reads: a Backend wrapper that has the library discard every
// process's output, and IOPipe.Discard for a single process.

/*
#include "shims.h"
*/
import "C"

import (
	"io"
)

// discardingBackend is what DiscardStreams returns: Remote.Client registers no
// attach_streams callback for it, so the library itself closes stdin and discards
// the output of every process.
type discardingBackend struct {
	Backend
}

// AttachStreams discards the streams. The library never calls it (Remote.Client
// registers no attach_streams callback for a DiscardStreams backend); it is there for
// a caller that uses the wrapper as a Backend directly.
func (d discardingBackend) AttachStreams(containerID, processID string, pipe IOPipe) error {
	pipe.Discard()
	return nil
}

// DiscardStreams returns a Backend whose state changes go to b but whose processes'
// stdio nobody reads: for a client made from it, the library closes every process's
// stdin at once (the process reads end of file) and reads and throws away its output
// itself, so no process ever blocks on a full pipe. b's AttachStreams is never
// called, so b may implement it as a no-op.
//
// A Backend that does want some of the output must keep reading the streams it is
// given (or call IOPipe.Discard for those it does not want): a process whose output
// is left unread blocks once a pipe's worth (64 KiB) is buffered, and never exits.
func DiscardStreams(b Backend) Backend {
	if d, ok := b.(discardingBackend); ok {
		return d
	}
	return discardingBackend{Backend: b}
}

// streamsDiscarded tells whether b came from DiscardStreams, and returns the Backend
// that receives the state changes.
func streamsDiscarded(b Backend) (Backend, bool) {
	if d, ok := b.(discardingBackend); ok {
		return d.Backend, true
	}
	return b, false
}

// cRemoteClient calls lcd_remote_client with the binding's callback table for the
// cgo.Handle h; without attach, the table has no attach_streams callback.
func cRemoteClient(r *C.lcd_remote, h C.uintptr_t, attach bool, out **C.lcd_client, call *C.lcd_call) *C.lcd_error {
	if attach {
		return C.lcd_go_remote_client(r, h, out, call)
	}
	return C.lcd_go_remote_client_events_only(r, h, out, call)
}

// Discard closes the process's stdin (it reads end of file) and reads its stdout and
// stderr to their end on goroutines of their own, throwing the bytes away, then closes
// them. A Backend calls it in AttachStreams for a process whose output it does not
// want, since output nobody reads blocks the process.
func (p IOPipe) Discard() {
	if p.Stdin != nil {
		p.Stdin.Close()
	}
	for _, r := range []io.ReadCloser{p.Stdout, p.Stderr} {
		if r == nil {
			continue
		}
		go func(r io.ReadCloser) {
			io.Copy(io.Discard, r)
			r.Close()
		}(r)
	}
}
