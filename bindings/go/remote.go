package libcontainerd

/*
#include "shims.h"
*/
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Remote is the access point to containerd: either a containerd socket given with
// WithRemoteAddr, or (by default) a containerd daemon the library starts under the
// state directory, health-checks and restarts. Its methods are safe for concurrent
// use. Close it when done; a finalizer closes a Remote that is dropped unclosed, but
// only as a backstop.
type Remote struct {
	h handle
}

// RemoteOption configures New (and, for the options a live remote may change,
// UpdateOptions).
type RemoteOption func(*remoteOptions)

// remoteOptions is the options JSON of lcd_remote_new; unset options are left out.
type remoteOptions struct {
	StateDir       *string   `json:"state_dir,omitempty"`
	StartDaemon    *bool     `json:"start_daemon,omitempty"`
	RemoteAddr     *string   `json:"remote_addr,omitempty"`
	ContainerdPath *string   `json:"containerd_path,omitempty"`
	DebugLog       *bool     `json:"debug_log,omitempty"`
	LiveRestore    *bool     `json:"live_restore,omitempty"`
	OOMScore       *int      `json:"oom_score,omitempty"`
	RuntimePath    *string   `json:"runtime_path,omitempty"`
	RuntimeArgs    *[]string `json:"runtime_args,omitempty"`
	Namespace      *string   `json:"namespace,omitempty"`
	ShimPool       *int      `json:"shim_pool,omitempty"`
}

// WithStateDir sets the directory (created 0700) holding the daemon's files and the
// fifos; the default is /run/libcontainerd. Keep it short: containerd's socket path
// under it must fit in 108 bytes.
func WithStateDir(dir string) RemoteOption {
	return func(o *remoteOptions) { o.StateDir = &dir }
}

// WithStartDaemon says whether the library starts and supervises a containerd of its
// own under the state directory (the default unless WithRemoteAddr is given). A
// second remote on the same state directory reuses a live daemon.
func WithStartDaemon(start bool) RemoteOption {
	return func(o *remoteOptions) { o.StartDaemon = &start }
}

// WithRemoteAddr connects to the containerd socket at addr (a path) instead of
// starting a daemon; together with WithStartDaemon(true) it is ErrInvalidArgument.
func WithRemoteAddr(addr string) RemoteOption {
	return func(o *remoteOptions) { o.RemoteAddr = &addr }
}

// WithContainerdPath sets the containerd binary a started daemon runs (default:
// containerd on PATH).
func WithContainerdPath(path string) RemoteOption {
	return func(o *remoteOptions) { o.ContainerdPath = &path }
}

// WithDebugLog sets a started daemon's log level to debug.
func WithDebugLog(debug bool) RemoteOption {
	return func(o *remoteOptions) { o.DebugLog = &debug }
}

// WithLiveRestore keeps containers running across Cleanup and the host program's
// restarts (Restore re-adopts them); without it Cleanup stops them.
func WithLiveRestore(live bool) RemoteOption {
	return func(o *remoteOptions) { o.LiveRestore = &live }
}

// WithOOMScore sets the oom_score_adj (-1000..1000) of a started daemon.
func WithOOMScore(score int) RemoteOption {
	return func(o *remoteOptions) { o.OOMScore = &score }
}

// WithRuntimePath sets the runc-compatible runtime containers run with (default
// runc).
func WithRuntimePath(path string) RemoteOption {
	return func(o *remoteOptions) { o.RuntimePath = &path }
}

// WithRuntimeArgs sets global arguments for the runtime, placed before its
// subcommand (for example "--debug").
func WithRuntimeArgs(args []string) RemoteOption {
	return func(o *remoteOptions) {
		a := append([]string{}, args...)
		o.RuntimeArgs = &a
	}
}

// WithShimPool spreads the containers the remote creates over at most n shared
// containerd shims (0..64; 0, the default, gives each container its own). A shim
// crash then ends every container of its group, each reported by one exit event.
func WithShimPool(n int) RemoteOption {
	return func(o *remoteOptions) { o.ShimPool = &n }
}

// WithNamespace sets the containerd namespace of the remote's containers (default
// "libcontainerd").
func WithNamespace(namespace string) RemoteOption {
	return func(o *remoteOptions) { o.Namespace = &namespace }
}

// New connects to containerd as the options say, starting a daemon of its own unless
// WithRemoteAddr is given. Invalid options are rejected before anything happens. It
// fails if the loaded library has another C ABI version than this package. ctx bounds
// the connection and the daemon's start: when it is cancelled or its deadline passes
// first, New returns ErrCancelled or ErrDeadlineExceeded (and context.Canceled or
// context.DeadlineExceeded) within 100 ms; a remote it was making is ended again in
// the background (stopping a daemon it started, unless another remote uses it). The Remote does not keep ctx: later calls take
// contexts of their own.
func New(ctx context.Context, opts ...RemoteOption) (*Remote, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	var o remoteOptions
	for _, opt := range opts {
		opt(&o)
	}
	var cs cstrings
	defer cs.free()
	js := cs.json("remote options", &o)
	if cs.err != nil {
		return nil, cs.err
	}
	var p *C.lcd_remote
	err := withCall(ctx, func(call *C.lcd_call) error { return takeError(C.lcd_remote_new(js, &p, call)) })
	if err != nil {
		return nil, err
	}
	r := &Remote{}
	r.h.init(unsafe.Pointer(p), func(p unsafe.Pointer) { C.lcd_remote_free((*C.lcd_remote)(p)) })
	runtime.SetFinalizer(r, (*Remote).Close)
	return r, nil
}

// call runs f on the remote's handle with the lcd_call of ctx (see withCall), unless
// the remote is closed.
func (r *Remote) call(ctx context.Context, f func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error) error {
	return withCall(ctx, func(call *C.lcd_call) error {
		return r.h.call(func(p unsafe.Pointer) *C.lcd_error { return f((*C.lcd_remote)(p), call) })
	})
}

// UpdateOptions changes the options a live remote may change: WithLiveRestore,
// WithOOMScore, WithDebugLog, WithRuntimePath and WithRuntimeArgs. Others are
// CodeFailedPrecondition errors. It does not wait for containerd, so it takes no
// context.
func (r *Remote) UpdateOptions(opts ...RemoteOption) error {
	var o remoteOptions
	for _, opt := range opts {
		opt(&o)
	}
	var cs cstrings
	defer cs.free()
	js := cs.json("remote options", &o)
	if cs.err != nil {
		return cs.err
	}
	return r.h.call(func(p unsafe.Pointer) *C.lcd_error { return C.lcd_remote_update_options((*C.lcd_remote)(p), js) })
}

// Client makes a client whose events and stdio go to b. Close it when done; it keeps
// the remote alive until then. With a Backend made by DiscardStreams, the library
// discards every process's output itself; any other Backend must read the streams
// AttachStreams hands it (see IOPipe). ctx bounds the call; a cancelled Client call
// makes no client. The Client does not keep ctx.
func (r *Remote) Client(ctx context.Context, b Backend) (*Client, error) {
	if b == nil {
		return nil, invalidArgument("backend is nil")
	}
	b, discarded := streamsDiscarded(b)
	target := &callbackTarget{backend: b}
	h := cgo.NewHandle(target)
	var cp *C.lcd_client
	err := r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error {
		return cRemoteClient(p, C.uintptr_t(h), !discarded, &cp, call)
	})
	if err != nil {
		h.Delete() // the library calls user_data_free only on success
		return nil, err
	}
	c := &Client{target: target}
	c.h.init(unsafe.Pointer(cp), func(p unsafe.Pointer) { C.lcd_client_free((*C.lcd_client)(p)) })
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// Cleanup stops the containers unless live restore is on: those of open clients with
// SIGTERM, then SIGKILL after 10 s (their StateExit events are delivered before it
// returns), those of closed clients, whom nothing reaches any more, with SIGKILL at
// once and no event; pending restarts are cancelled. Then it stops the containerd
// daemon if this remote started it and no other remote uses it. Idempotent. ctx
// bounds the call: when it ends first, Cleanup returns ErrCancelled or
// ErrDeadlineExceeded (and context.Canceled or context.DeadlineExceeded) within 100
// ms; the cleanup is not undone but goes on to its end in the background (later
// calls on the remote's clients fail as after a cleanup), and a second Cleanup
// waits for it.
func (r *Remote) Cleanup(ctx context.Context) error {
	return r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error { return C.lcd_remote_cleanup(p, call) })
}

// Close drops this reference to the remote; clients made from it keep it alive. The
// last reference (this Close or the last Client's) ends it exactly as Cleanup does, so
// containers of clients closed before are killed at once (call Cleanup first for a
// graceful stop with StateExit events), and Close may block until containers and
// the daemon are stopped: it takes no context, so call Cleanup with one first to
// bound that. Later calls return ErrClosed; a second Close does nothing.
func (r *Remote) Close() error {
	if r.h.close() {
		runtime.SetFinalizer(r, nil)
	}
	return nil
}
