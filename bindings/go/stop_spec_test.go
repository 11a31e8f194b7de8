// Tests of Stop, UpdateRestartPolicy, DefaultSpec and exec capabilities and terminal
// size, on the test containerd.

package libcontainerd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// usr1Exits exits 3 on SIGUSR1 and ignores SIGTERM; it prints "ready" once its traps
// are set (pid 1 ignores a signal it has no handler for, so an earlier one is lost).
const usr1Exits = "trap 'exit 3' USR1; trap '' TERM; echo ready; while true; do sleep 0.1; done"

// waitReady waits until the latest run of container id has printed "ready".
func (r *recorder) waitReady(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		s := r.streams[id+"/"+InitProcessID]
		ok := s != nil && strings.Contains(s.stdout.String(), "ready")
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never printed ready", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// defaultSpec is DefaultSpec of the busybox rootfs running sh -c script.
func defaultSpec(t *testing.T, opts SpecOptions, script string) Spec {
	t.Helper()
	opts.Rootfs = testRootfs
	opts.Args = []string{"sh", "-c", script}
	s, err := DefaultSpec(opts)
	if err != nil {
		t.Fatalf("DefaultSpec: %v", err)
	}
	return *s
}

func (r *recorder) count(id string, state State) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.id == id && e.info.State == state {
			n++
		}
	}
	return n
}

func TestStopKillsAfterTimeoutAndReportsOnce(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("stop")
	if err := c.Create(ctx, id, defaultSpec(t, SpecOptions{}, "trap '' TERM; while true; do sleep 0.1; done")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, id, StateStart)
	t0 := time.Now()
	if err := c.Stop(ctx, id, 0, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < 1500*time.Millisecond {
		t.Fatalf("SIGKILL before the timeout: %v", took)
	}
	if code := rec.waitFor(t, id, StateExit).ExitCode; code != 137 {
		t.Fatalf("exit code %d", code)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rec.count(id, StateExit); n != 1 {
		t.Fatalf("%d exits", n)
	}
	if err := c.Stop(ctx, "go-none", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stop of an unknown container: %v", err)
	}
	if err := c.Stop(ctx, id, 0, -time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative timeout: %v", err)
	}
}

func TestStopCancelsAlwaysRestart(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("stopalways")
	if err := c.Create(ctx, id, defaultSpec(t, SpecOptions{}, usr1Exits), WithRestartPolicy(RestartPolicy{Name: RestartPolicyAlways})); err != nil {
		t.Fatal(err)
	}
	rec.waitReady(t, id)
	if err := c.Stop(ctx, id, int(syscall.SIGUSR1), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if code := rec.waitFor(t, id, StateExit).ExitCode; code != 3 {
		t.Fatalf("exit code %d", code)
	}
	time.Sleep(500 * time.Millisecond)
	if s := fmt.Sprint(rec.states(id)); s != fmt.Sprint([]State{StateStart, StateExit}) {
		t.Fatalf("events %s", s)
	}
}

func TestUpdateRestartPolicy(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	// "no" during a backoff cancels the pending restart.
	id := uniqueID("updno")
	if err := c.Create(ctx, id, defaultSpec(t, SpecOptions{}, "exit 4"), WithRestartPolicy(RestartPolicy{Name: RestartPolicyAlways})); err != nil {
		t.Fatal(err)
	}
	rec.waitForNth(t, id, "", StateRestart, 5)
	if err := c.UpdateRestartPolicy(ctx, id, RestartPolicy{Name: RestartPolicyNo}); err != nil {
		t.Fatal(err)
	}
	if code := rec.waitFor(t, id, StateExit).ExitCode; code != 4 {
		t.Fatalf("exit code %d", code)
	}
	time.Sleep(2 * time.Second)
	if n := rec.count(id, StateStart); n != 5 {
		t.Fatalf("%d starts: the pending restart ran", n)
	}
	// "always" makes a container restart.
	id2 := uniqueID("updalways")
	if err := c.Create(ctx, id2, defaultSpec(t, SpecOptions{}, usr1Exits)); err != nil {
		t.Fatal(err)
	}
	rec.waitReady(t, id2)
	if err := c.UpdateRestartPolicy(ctx, id2, RestartPolicy{Name: RestartPolicyAlways}); err != nil {
		t.Fatal(err)
	}
	if err := c.Signal(ctx, id2, int(syscall.SIGUSR1)); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, id2, StateRestart)
	rec.waitForNth(t, id2, "", StateStart, 2)
	if err := c.Stop(ctx, id2, 9, time.Second); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, id2, StateExit)
	if err := c.UpdateRestartPolicy(ctx, id2, RestartPolicy{Name: RestartPolicyAlways, MaximumRetryCount: 2}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a retry count with always: %v", err)
	}
}

func TestDefaultSpecRunsAsRootAndAsUser(t *testing.T) {
	c, rec := newClient(t)
	for _, tc := range []struct{ user, want string }{
		{"", "0\n[ 0 == 0 ]\n"},
		{"app", "1000\n[ 1000 == 1000 ]\n"},
	} {
		id := uniqueID("dspec")
		script := "id -u; [ \"$(wc -c < /proc/timer_list)\" = 0 ] && echo \"[ $(id -g) == $(id -u) ]\""
		if err := c.Create(context.Background(), id, defaultSpec(t, SpecOptions{User: tc.user, Readonly: true}, script)); err != nil {
			t.Fatal(err)
		}
		if code := rec.waitFor(t, id, StateExit).ExitCode; code != 0 {
			t.Fatalf("user %q: exit code %d", tc.user, code)
		}
		if out, errOut := rec.output(t, id, InitProcessID); out != tc.want {
			t.Fatalf("user %q: stdout %q stderr %q", tc.user, out, errOut)
		}
	}
	if _, err := DefaultSpec(SpecOptions{Cwd: "relative"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a relative cwd: %v", err)
	}
	s, err := DefaultSpec(SpecOptions{})
	if err != nil || !s.Process.NoNewPrivileges || len(s.Linux.MaskedPaths) == 0 || s.Process.Capabilities.Ambient != nil {
		t.Fatalf("default spec: %v %+v", err, s)
	}
}

func TestExecAmbientCapabilitiesAndConsoleSize(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("execcaps")
	if err := c.Create(ctx, id, defaultSpec(t, SpecOptions{}, "sleep 300")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, id, StateStart)
	status := "grep -E '^Cap(Amb|Eff)' /proc/self/status"
	user := &User{UID: 1000, GID: 1000}
	for _, tc := range []struct {
		name    string
		ambient []string
		want    string
	}{
		{"plain", nil, "CapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n"},
		{"asked", []string{"CAP_NET_BIND_SERVICE"}, "CapEff:\t0000000000000400\nCapAmb:\t0000000000000400\n"},
	} {
		p := Process{Args: []string{"sh", "-c", status}, User: user, Capabilities: []string{"CAP_NET_BIND_SERVICE"}, AmbientCapabilities: tc.ambient}
		if err := c.AddProcess(ctx, id, tc.name, p); err != nil {
			t.Fatal(err)
		}
		rec.waitForNth(t, id, tc.name, StateExitProcess, 1)
		if out, _ := rec.output(t, id, tc.name); out != tc.want {
			t.Fatalf("%s: %q", tc.name, out)
		}
	}
	p := Process{Args: []string{"stty", "size"}, Terminal: true, ConsoleSize: &specs.Box{Height: 33, Width: 111}}
	if err := c.AddProcess(ctx, id, "tty", p); err != nil {
		t.Fatal(err)
	}
	rec.waitForNth(t, id, "tty", StateExitProcess, 1)
	if out, _ := rec.output(t, id, "tty"); out != "33 111\r\n" {
		t.Fatalf("stty size: %q", out)
	}
	kill(t, c, rec, id)
}
