package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"unsafe"
)

// Client creates and drives containers, reporting to one Backend. Its methods are
// blocking and safe for concurrent use, also from inside the Backend's methods; each
// but Close takes a context.Context first whose deadline and cancellation bound the
// library's call (see the package docs). Close it when done; a finalizer closes a
// Client that is dropped unclosed, but only as a backstop.
type Client struct {
	h      handle
	target *callbackTarget
}

// call runs f on the client's handle with the lcd_call of ctx (see withCall), unless
// the client is closed.
func (c *Client) call(ctx context.Context, f func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error) error {
	return withCall(ctx, func(call *C.lcd_call) error {
		return c.h.call(func(p unsafe.Pointer) *C.lcd_error { return f((*C.lcd_client)(p), call) })
	})
}

// callJSON runs f, which returns a JSON string, and decodes that into out.
func (c *Client) callJSON(ctx context.Context, out interface{}, f func(p *C.lcd_client, call *C.lcd_call, js **C.char) *C.lcd_error) error {
	var js *C.char
	if err := c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error { return f(p, call, &js) }); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(takeString(js)), out); err != nil {
		return &Error{Code: CodeInternal, Message: "decoding the library's JSON: " + err.Error()}
	}
	return nil
}

// withID runs f with id as a C string.
func (c *Client) withID(ctx context.Context, id string, f func(p *C.lcd_client, id *C.char, call *C.lcd_call) *C.lcd_error) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error { return f(p, cid, call) })
}

// withProcess runs f with id and processID as C strings.
func (c *Client) withProcess(ctx context.Context, id, processID string, f func(p *C.lcd_client, id, processID *C.char, call *C.lcd_call) *C.lcd_error) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	pid := cs.str("process id", processID)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error { return f(p, cid, pid, call) })
}

// optionsJSON encodes create options; nil (NULL to the library) when there are none.
func optionsJSON(cs *cstrings, opts []CreateOption) *C.char {
	if len(opts) == 0 {
		return nil
	}
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	return cs.json("create options", &o)
}

// Create creates and starts container id (1–64 characters: runs of [A-Za-z0-9]
// joined by single '.', '_' or '-', containerd's identifier grammar) from spec: it
// makes the container and its task, calls the Backend's AttachStreams (on this
// goroutine, before the process starts), starts the init process and reports
// StateStart. A taken id is ErrAlreadyExists. When ctx is cancelled or its deadline
// passes first, Create returns ErrCancelled or ErrDeadlineExceeded (errors.Is also
// finds context.Canceled or context.DeadlineExceeded) within 100 ms, and the
// container is undone: nothing of it is left in containerd and no event is reported
// (the removal may finish in the background; a later Create of the id waits for it).
func (c *Client) Create(ctx context.Context, id string, spec Spec, opts ...CreateOption) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	js := cs.json("spec", &spec)
	ojs := optionsJSON(&cs, opts)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_create(p, cid, js, ojs, call)
	})
}

// cSignal checks that sig fits a C int.
func cSignal(sig int) (C.int, error) {
	if sig < 0 || sig > math.MaxInt32 {
		return 0, invalidArgument("signal %d out of range", sig)
	}
	return C.int(sig), nil
}

// Signal sends signal sig to the init process of container id. SIGTERM and SIGKILL
// are an explicit stop (no restart follows); a paused container is thawed so that the
// signal is delivered. ctx bounds the call (see Create); a cancelled Signal may or
// may not have been delivered.
func (c *Client) Signal(ctx context.Context, id string, sig int) error {
	s, err := cSignal(sig)
	if err != nil {
		return err
	}
	return c.withID(ctx, id, func(p *C.lcd_client, cid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_signal(p, cid, s, call)
	})
}

// SignalProcess sends signal sig to process processID (InitProcessID or an exec's
// id) of container id. ctx bounds the call, as for Signal.
func (c *Client) SignalProcess(ctx context.Context, id, processID string, sig int) error {
	s, err := cSignal(sig)
	if err != nil {
		return err
	}
	return c.withProcess(ctx, id, processID, func(p *C.lcd_client, cid, pid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_signal_process(p, cid, pid, s, call)
	})
}

// AddProcess runs process p in container id under processID (the id rules apply; not
// InitProcessID): AttachStreams is called on this goroutine before it starts, then
// StateStartProcess (with its pid) and later StateExitProcess (with its exit code)
// are reported. When ctx is cancelled or its deadline passes first, AddProcess
// returns ErrCancelled or ErrDeadlineExceeded (and context.Canceled or
// context.DeadlineExceeded) within 100 ms and the exec is undone: no process is
// left running and no event is reported (the removal may finish in the background;
// processID stays taken until it has).
func (c *Client) AddProcess(ctx context.Context, id, processID string, p Process) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	pid := cs.str("process id", processID)
	js := cs.json("process", &p)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(cp *C.lcd_client, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_add_process(cp, cid, pid, js, call)
	})
}

// Resize resizes the terminal of process processID (InitProcessID or an exec's id) of
// container id to width columns and height rows. ctx bounds the call.
func (c *Client) Resize(ctx context.Context, id, processID string, width, height int) error {
	if width < 0 || width > math.MaxUint32 || height < 0 || height > math.MaxUint32 {
		return invalidArgument("terminal size %dx%d out of range", width, height)
	}
	return c.withProcess(ctx, id, processID, func(p *C.lcd_client, cid, pid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_resize(p, cid, pid, C.uint32_t(width), C.uint32_t(height), call)
	})
}

// Pause freezes container id; it returns once containerd has paused it, and
// StatePause follows through the Backend. ctx bounds the call.
func (c *Client) Pause(ctx context.Context, id string) error {
	return c.withID(ctx, id, func(p *C.lcd_client, cid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_pause(p, cid, call)
	})
}

// Resume thaws container id; it returns once containerd has resumed it, and
// StateResume follows through the Backend. ctx bounds the call.
func (c *Client) Resume(ctx context.Context, id string) error {
	return c.withID(ctx, id, func(p *C.lcd_client, cid *C.char, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_resume(p, cid, call)
	})
}

// Restore re-adopts container id, created by this library, after the host program or
// containerd restarted; opts are those it was created with. A running container gets
// AttachStreams and StateRestore (or, without live restore, is stopped and reported
// as StateExit); one that exited meanwhile is reported as StateExit with its real
// code, one gone without a trace as StateExit with 255. ctx bounds the call.
func (c *Client) Restore(ctx context.Context, id string, opts ...CreateOption) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	ojs := optionsJSON(&cs, opts)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_restore(p, cid, ojs, call)
	})
}

// Stats returns the cgroup figures of container id. ctx bounds the call.
func (c *Client) Stats(ctx context.Context, id string) (*Stats, error) {
	var s Stats
	err := c.withIDJSON(ctx, id, &s, func(p *C.lcd_client, cid *C.char, call *C.lcd_call, js **C.char) *C.lcd_error {
		return C.lcd_client_stats(p, cid, js, call)
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// withIDJSON runs f, which returns JSON, with id as a C string and decodes into out.
func (c *Client) withIDJSON(ctx context.Context, id string, out interface{}, f func(p *C.lcd_client, id *C.char, call *C.lcd_call, js **C.char) *C.lcd_error) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	if cs.err != nil {
		return cs.err
	}
	return c.callJSON(ctx, out, func(p *C.lcd_client, call *C.lcd_call, js **C.char) *C.lcd_error { return f(p, cid, call, js) })
}

// GetPidsForContainer returns the host pids of every process in container id. ctx
// bounds the call.
func (c *Client) GetPidsForContainer(ctx context.Context, id string) ([]int, error) {
	var pids []int
	err := c.withIDJSON(ctx, id, &pids, func(p *C.lcd_client, cid *C.char, call *C.lcd_call, js **C.char) *C.lcd_error {
		return C.lcd_client_get_pids(p, cid, js, call)
	})
	return pids, err
}

// Summary lists every process of container id. ctx bounds the call.
func (c *Client) Summary(ctx context.Context, id string) ([]Summary, error) {
	var s []Summary
	err := c.withIDJSON(ctx, id, &s, func(p *C.lcd_client, cid *C.char, call *C.lcd_call, js **C.char) *C.lcd_error {
		return C.lcd_client_summary(p, cid, js, call)
	})
	return s, err
}

// UpdateResources applies resources to running container id. ctx bounds the call; a
// cancelled update may or may not have been applied.
func (c *Client) UpdateResources(ctx context.Context, id string, resources Resources) error {
	var cs cstrings
	defer cs.free()
	cid := cs.str("container id", id)
	js := cs.json("resources", &resources)
	if cs.err != nil {
		return cs.err
	}
	return c.call(ctx, func(p *C.lcd_client, call *C.lcd_call) *C.lcd_error {
		return C.lcd_client_update_resources(p, cid, js, call)
	})
}

// List returns the containers of the client's namespace. ctx bounds the call.
func (c *Client) List(ctx context.Context) ([]Container, error) {
	var l []Container
	err := c.callJSON(ctx, &l, func(p *C.lcd_client, call *C.lcd_call, js **C.char) *C.lcd_error {
		return C.lcd_client_list(p, js, call)
	})
	return l, err
}

// Close stops event delivery to the Backend and frees the client. It returns once
// the library has freed it: after every call in flight on the client has returned
// and every callback has finished, so no Backend method runs after Close returns.
// Called from inside one of the client's own callbacks it cannot wait for that
// callback (nor for the call it runs in): it returns at once and the client is freed
// when they end. Containers keep running. Later calls return ErrClosed; a second
// Close waits the same way and does nothing else. It takes no context: the calls it
// waits for are bounded by their own.
func (c *Client) Close() error {
	if c.h.close() {
		runtime.SetFinalizer(c, nil)
	}
	if c.target == nil || !c.target.inside(goroutineID()) {
		c.h.waitFreed()
	}
	return nil
}
