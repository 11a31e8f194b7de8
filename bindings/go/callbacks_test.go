package libcontainerd

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestErrorsIsForEachClass(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	sentinels := map[Code]*Error{
		CodeInvalidArgument: ErrInvalidArgument, CodeNotFound: ErrNotFound, CodeAlreadyExists: ErrAlreadyExists,
		CodeFailedPrecondition: ErrFailedPrecondition, CodeUnavailable: ErrUnavailable,
		CodeDeadlineExceeded: ErrDeadlineExceeded, CodeCancelled: ErrCancelled, CodeIO: ErrIO,
		CodeInternal: ErrInternal, CodeUnsupported: ErrUnsupported, CodePermissionDenied: ErrPermissionDenied,
	}
	// matchesOnly checks that err is of class code and of no other.
	matchesOnly := func(what string, err error, code Code) {
		t.Helper()
		for k, s := range sentinels {
			if got := errors.Is(err, s); got != (k == code) {
				t.Errorf("%s: errors.Is(%v, %v) = %v", what, err, k, got)
			}
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != code || e.Message == "" {
			t.Errorf("%s: %#v is not an *Error of class %v with a message", what, err, code)
		}
	}

	// Errors the library reports for what it is asked.
	matchesOnly("bad id", c.Create(ctx, "../escape", busyboxSpec("true")), CodeInvalidArgument)
	matchesOnly("NUL in id", c.Signal(ctx, "a\x00b", 9), CodeInvalidArgument)
	matchesOnly("unknown container", c.Signal(ctx, uniqueID("nothere"), 9), CodeNotFound)
	id := uniqueID("dup")
	if err := c.Create(ctx, id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatal(err)
	}
	matchesOnly("taken id", c.Create(ctx, id, busyboxSpec("true")), CodeAlreadyExists)
	matchesOnly("namespace change", testRemote.UpdateOptions(WithNamespace("other")), CodeFailedPrecondition)
	_, err := New(ctx, WithRemoteAddr("/nonexistent/containerd.sock"))
	matchesOnly("no containerd", err, CodeUnavailable)
	kill(t, c, rec, id)

	// Every class makes the round trip through the library: an AttachStreams error
	// fails Create with its code.
	for code := CodeInvalidArgument; code <= CodePermissionDenied; code++ {
		code := code
		rec.mu.Lock()
		rec.onAttach = func(_, _ string, io IOPipe) error {
			return &Error{Code: code, Message: "refused by the backend"}
		}
		rec.mu.Unlock()
		err := c.Create(ctx, uniqueID("code"), busyboxSpec("true"))
		matchesOnly(fmt.Sprintf("attach error %v", code), err, code)
		if err != nil && !strings.Contains(err.Error(), "refused by the backend") {
			t.Errorf("attach error %v lost its message: %v", code, err)
		}
	}
	// A plain Go error is INTERNAL.
	rec.mu.Lock()
	rec.onAttach = func(_, _ string, io IOPipe) error { return errors.New("plain") }
	rec.mu.Unlock()
	matchesOnly("plain error", c.Create(ctx, uniqueID("plain"), busyboxSpec("true")), CodeInternal)

	// Closed handles.
	c2, err := testRemote.Client(ctx, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	c2.Close()
	if _, err := c2.List(ctx); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("closed client: %v", err)
	}
}

// panicky panics in the callbacks it is told to.
type panicky struct {
	*recorder
	panicAttach bool
	panicState  State
}

func (p *panicky) AttachStreams(id, processID string, io IOPipe) error {
	if p.panicAttach {
		panic("attach boom")
	}
	return p.recorder.AttachStreams(id, processID, io)
}

func (p *panicky) StateChanged(id string, info StateInfo) error {
	err := p.recorder.StateChanged(id, info)
	if info.State == p.panicState {
		panic("state boom")
	}
	return err
}

func TestPanickingCallback(t *testing.T) {
	ctx := context.Background()
	b := &panicky{recorder: newRecorder(), panicAttach: true, panicState: StateStart}
	c, err := testRemote.Client(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A panic in AttachStreams fails the Create with an INTERNAL error naming it.
	id := uniqueID("panic")
	err = c.Create(ctx, id, busyboxSpec("sleep", "300"))
	if !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), "attach boom") {
		t.Fatalf("create with a panicking AttachStreams: %v", err)
	}
	if _, ok := listed(t, c, id); ok {
		t.Errorf("%s left behind after the failed create", id)
	}

	// A panic in StateChanged is contained: later events still arrive.
	b.panicAttach = false
	if err := c.Create(ctx, id, busyboxSpec("sh", "-c", "echo still here; exit 5")); err != nil {
		t.Fatalf("create after the panic: %v", err)
	}
	if exit := b.waitFor(t, id, StateExit); exit.ExitCode != 5 {
		t.Errorf("exit %+v", exit)
	}
	if out, _ := b.output(t, id, InitProcessID); out != "still here\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestCallbackCallsBackIn(t *testing.T) {
	ctx := context.Background()
	rec := newRecorder()
	c, err := testRemote.Client(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var listed []int
	var callErrs []error
	// From StateChanged (a library thread): list, and kill the container once it starts.
	rec.onState = func(id string, info StateInfo) error {
		l, err := c.List(ctx)
		mu.Lock()
		listed = append(listed, len(l))
		if err != nil {
			callErrs = append(callErrs, err)
		}
		mu.Unlock()
		if info.State == StateStart {
			if err := c.Signal(ctx, id, 9); err != nil {
				mu.Lock()
				callErrs = append(callErrs, err)
				mu.Unlock()
			}
		}
		return nil
	}
	// From AttachStreams (inside Create, on its goroutine): list, then capture.
	rec.onAttach = func(id, processID string, io IOPipe) error {
		if _, err := c.List(ctx); err != nil {
			return err
		}
		io.Stdin.Close()
		io.Stdout.Close()
		io.Stderr.Close()
		return nil
	}
	id := uniqueID("reenter")
	if err := c.Create(ctx, id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 137 {
		t.Errorf("exit %+v", exit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callErrs) > 0 || len(listed) < 2 {
		t.Errorf("calls from the callback: errors %v, lists %v", callErrs, listed)
	}

	// Close from inside a callback: the client stops, nothing deadlocks.
	c2, rec2 := newClient(t)
	closed := make(chan struct{})
	rec2.onState = func(id string, info StateInfo) error {
		if info.State == StateStart {
			c2.Close()
			close(closed)
		}
		return nil
	}
	id2 := uniqueID("closein")
	if err := c2.Create(ctx, id2, busyboxSpec("sleep", "300")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		t.Fatal("Close inside StateChanged did not return")
	}
	if err := c2.Signal(ctx, id2, 9); !errors.Is(err, ErrClosed) {
		t.Errorf("signal after close: %v", err)
	}
	if err := c.Signal(ctx, id2, 9); err != nil { // another client of the namespace stops it
		t.Errorf("signal from another client: %v", err)
	}
}

func TestConcurrentCreates(t *testing.T) {
	c, rec := newClient(t)
	const n = 50
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		ids[i] = uniqueID(fmt.Sprintf("many%d", i))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := c.Create(context.Background(), ids[i], busyboxSpec("sh", "-c", fmt.Sprintf("echo %d; exit %d", i, i))); err != nil {
				errs <- fmt.Errorf("create %s: %w", ids[i], err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i, id := range ids {
		if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != uint32(i) {
			t.Errorf("%s: exit %+v, want code %d", id, exit, i)
		}
		if out, _ := rec.output(t, id, InitProcessID); out != fmt.Sprintf("%d\n", i) {
			t.Errorf("%s: stdout %q", id, out)
		}
	}
	// Each exit exactly once.
	time.Sleep(200 * time.Millisecond)
	for _, id := range ids {
		got := rec.states(id)
		if len(got) != 2 || got[0] != StateStart || got[1] != StateExit {
			t.Errorf("%s: states %v", id, got)
		}
	}
}

func TestABIVersionCheck(t *testing.T) {
	if LibraryABIVersion() != ABIVersion {
		t.Fatalf("library ABI %d, package ABI %d", LibraryABIVersion(), ABIVersion)
	}
	if err := checkABI(ABIVersion); err != nil {
		t.Errorf("matching ABI refused: %v", err)
	}
	if err := checkABI(ABIVersion + 1); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("mismatched ABI: %v", err)
	}
	if Version() == "" {
		t.Error("empty library version")
	}
	if CodeNotFound.String() != "NOT_FOUND" {
		t.Errorf("code name %q", CodeNotFound.String())
	}
}

// plainBackend is a Backend without references to itself, so a finalizer on it runs
// once nothing refers to it.
type plainBackend struct{ name string }

func (plainBackend) StateChanged(string, StateInfo) error { return nil }

func (plainBackend) AttachStreams(_, _ string, io IOPipe) error {
	io.Stdin.Close()
	io.Stdout.Close()
	io.Stderr.Close()
	return nil
}

func TestFinalizerClosesAForgottenClient(t *testing.T) {
	released := make(chan struct{})
	func() {
		b := &plainBackend{name: "forgotten"}
		runtime.SetFinalizer(b, func(*plainBackend) { close(released) })
		if _, err := testRemote.Client(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}()
	// The Client's finalizer frees the client, whose user_data_free releases the
	// handle to the backend, which then becomes garbage itself.
	deadline := time.After(timeout)
	for {
		runtime.GC()
		select {
		case <-released:
			return
		case <-deadline:
			t.Fatal("the backend of an unreachable client was never released")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// gatedAttach blocks AttachStreams until release is closed, and records any callback
// that runs after closed was set.
type gatedAttach struct {
	*recorder
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	closed  bool
	late    []string
}

func (g *gatedAttach) lateCheck(what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.late = append(g.late, what)
	}
}

func (g *gatedAttach) AttachStreams(id, processID string, io IOPipe) error {
	g.lateCheck("AttachStreams")
	close(g.entered)
	<-g.release
	time.Sleep(50 * time.Millisecond)
	g.lateCheck("AttachStreams (its end)")
	return g.recorder.AttachStreams(id, processID, io)
}

func (g *gatedAttach) StateChanged(id string, info StateInfo) error {
	g.lateCheck("StateChanged " + string(info.State))
	return g.recorder.StateChanged(id, info)
}

func TestCloseWaitsForACallInFlight(t *testing.T) {
	ctx := context.Background()
	g := &gatedAttach{recorder: newRecorder(), entered: make(chan struct{}), release: make(chan struct{})}
	c, err := testRemote.Client(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	id := uniqueID("closewait")
	created := make(chan error, 1)
	go func() { created <- c.Create(ctx, id, busyboxSpec("true")) }()
	<-g.entered
	closed := make(chan struct{})
	go func() {
		c.Close()
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		close(closed)
	}()
	select {
	case <-closed:
		close(g.release)
		t.Fatal("Close returned while a Create on the client was still in its AttachStreams")
	case <-time.After(300 * time.Millisecond):
	}
	close(g.release)
	<-closed
	// The call in flight completed before the client was freed.
	if err := <-created; err != nil {
		t.Errorf("create whose client was closed meanwhile: %v", err)
	}
	g.mu.Lock()
	late := g.late
	g.mu.Unlock()
	if len(late) > 0 {
		t.Errorf("callbacks ran after Close returned: %v", late)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A Close from inside the client's own callback, during a call on it, returns (it
// cannot wait for that call).
func TestCloseInsideAttachStreamsReturns(t *testing.T) {
	ctx := context.Background()
	r := newRecorder()
	var c *Client
	b := &closer{recorder: r, close: func() { c.Close() }}
	var err error
	c, err = testRemote.Client(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Create(ctx, uniqueID("closein"), busyboxSpec("true")) }()
	select {
	case err := <-done:
		// The client is freed when the create returns, so the create completes.
		if err != nil {
			t.Errorf("create whose client was closed in AttachStreams: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Close inside AttachStreams deadlocked")
	}
}

type closer struct {
	*recorder
	close func()
}

func (c *closer) AttachStreams(id, processID string, io IOPipe) error {
	c.close()
	return c.recorder.AttachStreams(id, processID, io)
}

func TestUserDataFreeRecoversAPanic(t *testing.T) {
	// Releasing a handle that is not (or no longer) valid panics inside cgo; the
	// user_data_free path must recover instead of unwinding into the library.
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("the panic escaped: %v", v)
		}
	}()
	releaseTarget(0)
}
