package libcontainerd

// Deadlines and cancellation on a real containerd that the test starts itself (for
// WithRemoteAddr), so that it can take it away (SIGKILL: an outage) or hang it
// (SIGSTOP) without the library's supervisor stepping in.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cancelBound is how soon after a cancel or a deadline a call returns (DESIGN §6.5):
// the contract's 100 ms plus slack for a loaded 2-CPU test machine. Without
// cancellation these calls block for the whole outage (20 s).
const cancelBound = 100*time.Millisecond + 400*time.Millisecond

// externalContainerd is a containerd started by the test, with its files in the
// library's layout (<dir>/containerd/{config.toml,containerd.sock,containerd.pid,…})
// below LCD_TEST_TMPDIR, so that scripts/test.sh finds whatever it leaves behind.
type externalContainerd struct {
	dir    string
	socket string
	cmd    *exec.Cmd
}

// startContainerd starts containerd and waits until it answers; the test's cleanup
// kills it.
func startContainerd(t *testing.T) *externalContainerd {
	t.Helper()
	dir := tempDir(t)
	base := filepath.Join(dir, "containerd")
	if err := os.MkdirAll(base, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &externalContainerd{dir: dir, socket: filepath.Join(base, "containerd.sock")}
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n"+
		"[grpc]\n  address = %q\n\n[ttrpc]\n  address = %q\n\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n",
		filepath.Join(base, "root"), filepath.Join(base, "state"), e.socket,
		filepath.Join(base, "containerd.sock.ttrpc"), filepath.Join(base, "opt"))
	if err := os.WriteFile(filepath.Join(base, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.kill(syscall.SIGKILL) })
	e.launch(t)
	return e
}

// launch runs the daemon and waits (30 s at most) until it answers.
func (e *externalContainerd) launch(t *testing.T) {
	t.Helper()
	base := filepath.Join(e.dir, "containerd")
	log, err := os.OpenFile(filepath.Join(base, "containerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("containerd", "--config", filepath.Join(base, "config.toml"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot run containerd (run scripts/setup.sh): %v", err)
	}
	e.cmd = cmd
	if err := os.WriteFile(filepath.Join(base, "containerd.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(e.socket); err == nil &&
			exec.Command("ctr", "--address", e.socket, "version").Run() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s within 30 s", e.socket)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pid is the daemon's pid.
func (e *externalContainerd) pid() int { return e.cmd.Process.Pid }

// kill sends sig to the daemon and reaps it (SIGCONT first, should it be stopped).
func (e *externalContainerd) kill(sig syscall.Signal) {
	if e.cmd == nil {
		return
	}
	syscall.Kill(e.pid(), sig)
	syscall.Kill(e.pid(), syscall.SIGCONT)
	e.cmd.Wait()
	e.cmd = nil
}

// remoteOn connects a remote of its own (namespace ns) to e, and a client of it.
func remoteOn(t *testing.T, e *externalContainerd, ns string) (*Client, *recorder) {
	t.Helper()
	ctx := context.Background()
	r, err := New(ctx, WithStateDir(tempDir(t)), WithRemoteAddr(e.socket), WithNamespace(ns))
	if err != nil {
		t.Fatalf("new remote on %s: %v", e.socket, err)
	}
	t.Cleanup(func() { r.Close() })
	rec := newRecorder()
	c, err := r.Client(ctx, rec)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// assertGone fails the test if the library's list (or the recorder) shows id.
func assertGone(t *testing.T, c *Client, rec *recorder, id string) {
	t.Helper()
	if ct, ok := listed(t, c, id); ok {
		t.Errorf("container %s left behind: %+v", id, ct)
	}
	if s := rec.states(id); len(s) != 0 {
		t.Errorf("events of the undone container %s: %v", id, s)
	}
}

func TestCancelledCreateDuringAnOutageLeavesNothing(t *testing.T) {
	ext := startContainerd(t)
	c, rec := remoteOn(t, ext, "gocancel")
	ext.kill(syscall.SIGKILL) // the outage: the library waits for containerd to come back

	id := uniqueID("cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Create(ctx, id, busyboxSpec("true")) }()
	select {
	case err := <-done:
		t.Fatalf("create returned during the outage before any cancel: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cancelled := time.Now()
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("create did not return after its context was cancelled")
	}
	took := time.Since(cancelled)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("create: %v, want context.Canceled and ErrCancelled", err)
	}
	if took > cancelBound {
		t.Errorf("create returned %v after the cancel, want at most %v", took, cancelBound)
	}

	ext.launch(t) // containerd is back: nothing of the container is there
	assertGone(t, c, rec, id)
	// The client still works, and the id is free again.
	if err := c.Create(context.Background(), id, busyboxSpec("true")); err != nil {
		t.Fatalf("create after the outage: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
}

func TestDeadlineOnAHungDaemon(t *testing.T) {
	ext := startContainerd(t)
	c, rec := remoteOn(t, ext, "godeadline")
	if _, err := c.List(context.Background()); err != nil {
		t.Fatalf("list before the hang: %v", err)
	}
	freeze(t, ext.pid())
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(ext.pid(), syscall.SIGCONT)
		}
	}
	defer resume()

	const wait = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("list on a hung daemon: %v, want context.DeadlineExceeded and ErrDeadlineExceeded", err)
	}
	if took < wait || took > wait+cancelBound {
		t.Errorf("list returned after %v, want %v (+%v at most)", took, wait, cancelBound)
	}
	// Connecting is bounded too.
	ctxNew, cancelNew := context.WithTimeout(context.Background(), wait)
	defer cancelNew()
	start = time.Now()
	if r, err := New(ctxNew, WithStateDir(tempDir(t)), WithRemoteAddr(ext.socket)); !errors.Is(err, context.DeadlineExceeded) {
		if r != nil {
			r.Close()
		}
		t.Errorf("new remote on a hung daemon: %v, want context.DeadlineExceeded", err)
	} else if took := time.Since(start); took > wait+cancelBound {
		t.Errorf("new returned after %v, want at most %v", took, wait+cancelBound)
	}

	// A create whose deadline passes while containerd hangs is undone, also once
	// containerd, resumed, gets to the requests it had queued.
	id := uniqueID("deadline")
	ctx2, cancel2 := context.WithTimeout(context.Background(), wait)
	defer cancel2()
	start = time.Now()
	err = c.Create(ctx2, id, busyboxSpec("true"))
	took = time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("create on a hung daemon: %v, want context.DeadlineExceeded and ErrDeadlineExceeded", err)
	}
	if took > wait+cancelBound {
		t.Errorf("create returned after %v, want at most %v", took, wait+cancelBound)
	}
	resume()
	assertGone(t, c, rec, id)
}

func TestDoneContextFailsBeforeTheCall(t *testing.T) {
	c, rec := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := uniqueID("precancelled")
	if err := c.Create(ctx, id, busyboxSpec("true")); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("create with a cancelled context: %v", err)
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.List(past); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("list past its deadline: %v", err)
	}
	if _, err := New(ctx, WithStateDir(tempDir(t))); !errors.Is(err, context.Canceled) {
		t.Fatalf("new with a cancelled context: %v", err)
	}
	var nilCtx context.Context
	if err := c.Signal(nilCtx, id, 9); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("signal with a nil context: %v", err)
	}
	// A context with a deadline far enough away changes nothing.
	ctx3, cancel3 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel3()
	if err := c.Create(ctx3, id, busyboxSpec("true")); err != nil {
		t.Fatalf("create with a deadline: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
}

// freeze stops process pid (SIGSTOP) and waits until every one of its threads is
// stopped: kill returns before a thread running on another CPU has stopped, and on a
// loaded machine such a thread may still answer a request meanwhile.
func freeze(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := true
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			s := string(b)
			if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) && s[i+2] != 'T' && s[i+2] != 't' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
