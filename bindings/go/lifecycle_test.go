package libcontainerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCreateReportsStartAndExitCode(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("exit")
	before := time.Now()
	if err := c.Create(context.Background(), id, busyboxSpec("sh", "-c", "exit 3")); err != nil {
		t.Fatalf("create: %v", err)
	}
	start := rec.waitFor(t, id, StateStart)
	if start.Pid == 0 || start.ProcessID != InitProcessID {
		t.Errorf("start: %+v", start)
	}
	exit := rec.waitFor(t, id, StateExit)
	if exit.ExitCode != 3 || exit.OOMKilled || exit.ProcessID != InitProcessID {
		t.Errorf("exit: %+v", exit)
	}
	if exit.ExitedAt.Before(before.Add(-time.Second)) || exit.ExitedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("exited at %v, test began at %v", exit.ExitedAt, before)
	}
	if got := rec.states(id); len(got) != 2 || got[0] != StateStart || got[1] != StateExit {
		t.Errorf("states %v", got)
	}
	// The id is free once the exit is delivered.
	if _, ok := listed(t, c, id); ok {
		t.Errorf("%s still listed after its exit", id)
	}
}

func TestExactStdoutAndStderr(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("out")
	if err := c.Create(context.Background(), id, busyboxSpec("sh", "-c", "printf 'hello\\n  world'; printf oops >&2")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitFor(t, id, StateExit)
	out, errOut := rec.output(t, id, InitProcessID)
	if out != "hello\n  world" || errOut != "oops" {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
}

func TestStdinCloseDeliversEOF(t *testing.T) {
	c, rec := newClient(t)
	rec.keepStdin = true
	id := uniqueID("stdin")
	if err := c.Create(context.Background(), id, busyboxSpec("cat")); err != nil {
		t.Fatalf("create: %v", err)
	}
	in := rec.stdin(t, id, InitProcessID)
	if _, ok := in.(*os.File); !ok {
		t.Errorf("Stdin is a %T, want *os.File", in)
	}
	if _, err := io.WriteString(in, "through stdin\n"); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
	if out, _ := rec.output(t, id, InitProcessID); out != "through stdin\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestExecExitCode(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("exec")
	if err := c.Create(context.Background(), id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitFor(t, id, StateStart)
	cwd := "/tmp"
	p := Process{Args: []string{"sh", "-c", "pwd; id -u; exit 7"}, Cwd: &cwd, User: &User{UID: 1000, GID: 1000}}
	if err := c.AddProcess(context.Background(), id, "e1", p); err != nil {
		t.Fatalf("add process: %v", err)
	}
	started := rec.waitForNth(t, id, "e1", StateStartProcess, 1)
	if started.Pid == 0 {
		t.Errorf("start-process without a pid: %+v", started)
	}
	if exit := rec.waitForNth(t, id, "e1", StateExitProcess, 1); exit.ExitCode != 7 {
		t.Errorf("exit-process %+v", exit)
	}
	if out, _ := rec.output(t, id, "e1"); out != "/tmp\n1000\n" {
		t.Errorf("exec stdout %q", out)
	}

	// A context done beforehand fails the call with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.AddProcess(ctx, id, "e2", Process{Args: []string{"true"}})
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err = c.AddProcess(ctx, id, "e3", Process{Args: []string{"true"}})
	if !errors.Is(err, ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v", err)
	}
	if exit := kill(t, c, rec, id); exit.ExitCode != 137 {
		t.Errorf("exit %+v", exit)
	}
}

func TestTerminalResize(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	rec.keepStdin = true
	id := uniqueID("tty")
	if err := c.Create(ctx, id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	p := Process{Args: []string{"sh", "-c", "read x; stty size"}, Terminal: true}
	if err := c.AddProcess(ctx, id, "t", p); err != nil {
		t.Fatalf("add process: %v", err)
	}
	if err := c.Resize(ctx, id, "t", 100, 40); err != nil {
		t.Fatalf("resize: %v", err)
	}
	in := rec.stdin(t, id, "t")
	if _, err := io.WriteString(in, "\n"); err != nil {
		t.Fatal(err)
	}
	rec.waitForNth(t, id, "t", StateExitProcess, 1)
	rec.waitUntil(t, "stty output", func() bool {
		s := rec.streams[id+"/t"]
		return strings.Contains(s.stdout.String(), "40 100")
	})
	rec.mu.Lock()
	terminal := rec.streams[id+"/t"].terminal
	rec.mu.Unlock()
	if !terminal {
		t.Errorf("IOPipe.Terminal false for a terminal exec")
	}
	in.Close()
	if err := c.Resize(ctx, id, "t", -1, 40); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative width: %v", err)
	}
	kill(t, c, rec, id)
}

func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("pause")
	if err := c.Create(ctx, id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitFor(t, id, StateStart)
	status := func() string {
		if ct, ok := listed(t, c, id); ok {
			return ct.Status
		}
		return "missing"
	}
	if err := c.Pause(ctx, id); err != nil {
		t.Fatalf("pause: %v", err)
	}
	rec.waitFor(t, id, StatePause)
	if s := status(); s != StatusPaused {
		t.Errorf("status after pause: %s", s)
	}
	if err := c.Resume(ctx, id); err != nil {
		t.Fatalf("resume: %v", err)
	}
	rec.waitFor(t, id, StateResume)
	if s := status(); s != StatusRunning {
		t.Errorf("status after resume: %s", s)
	}
	if exit := kill(t, c, rec, id); exit.ExitCode != 137 {
		t.Errorf("exit %+v", exit)
	}
}

func TestStatsPidsSummaryAndResources(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("stats")
	if err := c.Create(ctx, id, busyboxSpec("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	start := rec.waitFor(t, id, StateStart)
	time.Sleep(300 * time.Millisecond)
	s, err := c.Stats(ctx, id)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	if time.Since(s.Read) > time.Minute || s.Read.After(time.Now().Add(time.Second)) {
		t.Errorf("stats read at %v", s.Read)
	}
	if s.CPU.Usage.Total == 0 || s.Memory.Usage.Usage == 0 || s.Pids.Current == 0 {
		t.Errorf("stats: %+v", s)
	}
	if s.Cgroup != "v1" && s.Cgroup != "v2" {
		t.Errorf("cgroup %q", s.Cgroup)
	}

	limit := int64(64 << 20)
	if err := c.UpdateResources(ctx, id, Resources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatalf("update resources: %v", err)
	}
	if s, err = c.Stats(ctx, id); err != nil {
		t.Fatal(err)
	} else if s.Memory.Usage.Limit != uint64(limit) {
		t.Errorf("memory limit after update: %d", s.Memory.Usage.Limit)
	}

	pids, err := c.GetPidsForContainer(ctx, id)
	if err != nil {
		t.Fatalf("pids: %v", err)
	}
	if !containsInt(pids, int(start.Pid)) {
		t.Errorf("pids %v lack init's %d", pids, start.Pid)
	}
	if err := c.AddProcess(ctx, id, "side", Process{Args: []string{"sleep", "300"}}); err != nil {
		t.Fatal(err)
	}
	side := rec.waitForNth(t, id, "side", StateStartProcess, 1)
	sum, err := c.Summary(ctx, id)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	if !containsSummary(sum, Summary{Pid: start.Pid, ProcessID: InitProcessID}) || !containsSummary(sum, Summary{Pid: side.Pid, ProcessID: "side"}) {
		t.Errorf("summary %+v lacks init %d or side %d", sum, start.Pid, side.Pid)
	}
	if ct, ok := listed(t, c, id); !ok {
		t.Errorf("%s not listed", id)
	} else if ct.Pid != start.Pid || len(ct.Processes) != 1 || ct.Processes[0].ProcessID != "side" || ct.Processes[0].Pid != side.Pid {
		t.Errorf("list entry %+v", ct)
	}
	kill(t, c, rec, id)
	if got := rec.states(id); indexOf(got, StateExitProcess) < 0 || indexOf(got, StateExitProcess) > indexOf(got, StateExit) {
		t.Errorf("states %v: want exit-process before exit", got)
	}
}

func TestOOMIsReported(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("oom")
	spec := busyboxSpec("sh", "-c", "x=0123456789; while true; do x=$x$x; done")
	limit := int64(32 << 20)
	spec.Linux.Resources = &Resources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	if err := c.Create(context.Background(), id, spec); err != nil {
		t.Fatalf("create: %v", err)
	}
	exit := rec.waitFor(t, id, StateExit)
	if !exit.OOMKilled || exit.ExitCode != 137 {
		t.Errorf("exit %+v", exit)
	}
	got := rec.states(id)
	if o := indexOf(got, StateOOM); o < 0 || o > indexOf(got, StateExit) {
		t.Errorf("states %v: want oom before exit", got)
	}
}

func TestRestartPolicyOnFailure(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("restart")
	err := c.Create(ctx, id, busyboxSpec("sh", "-c", "exit 1"), WithRestartPolicy(RestartPolicy{Name: RestartPolicyOnFailure, MaximumRetryCount: 2}))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 1 {
		t.Errorf("exit %+v", exit)
	}
	want := []State{StateStart, StateRestart, StateStart, StateRestart, StateStart, StateExit}
	if got := rec.states(id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", got, want)
	}
	rec.mu.Lock()
	attaches := rec.attaches[id+"/"+InitProcessID]
	rec.mu.Unlock()
	if attaches != 3 {
		t.Errorf("AttachStreams called %d times for 3 runs", attaches)
	}

	// An unknown policy name is refused before anything is created.
	err = c.Create(ctx, uniqueID("badpolicy"), busyboxSpec("true"), WithRestartPolicy(RestartPolicy{Name: "sometimes"}))
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad policy: %v", err)
	}
}

func TestWithRuntime(t *testing.T) {
	ctx := context.Background()
	c, rec := newClient(t)
	id := uniqueID("runtime")
	err := c.Create(ctx, id, busyboxSpec("true"), WithRuntime("/nonexistent/runc", nil))
	if err == nil {
		rec.waitFor(t, id, StateExit)
		t.Fatalf("create with a missing runtime succeeded")
	}
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "/nonexistent/runc") {
		t.Errorf("missing runtime: %v", err)
	}
	// The exit is reported before containerd has removed the container (with runc
	// delete, through this wrapper): the wrapper outlives the test.
	wrapper, log := runcWrapper(t, suiteTempDir(t), "runc-wrapper")
	if err := c.Create(ctx, id, busyboxSpec("sh", "-c", "exit 4"), WithRuntime(wrapper, []string{"--debug"})); err != nil {
		t.Fatalf("create with runtime %s: %v", wrapper, err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 4 {
		t.Errorf("exit %+v", exit)
	}
	loggedCall(t, log, "--debug", " create ", id)
}

func TestRestoreOfAVanishedContainer(t *testing.T) {
	c, rec := newClient(t)
	id := uniqueID("vanished")
	if err := c.Restore(context.Background(), id); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 255 {
		t.Errorf("exit %+v", exit)
	}
}

func TestRemoteOptions(t *testing.T) {
	ctx := context.Background()
	dir := tempDir(t)
	wrapper, log := runcWrapper(t, dir, "runc-wrapper")
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(ctx, WithStateDir(filepath.Join(dir, "s")), WithStartDaemon(true), WithContainerdPath(containerd),
		WithDebugLog(true), WithLiveRestore(false), WithOOMScore(200), WithRuntimePath(wrapper),
		WithRuntimeArgs([]string{"--log-format", "json"}), WithNamespace("gotest"))
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	defer r.Close()
	pidText, err := os.ReadFile(filepath.Join(dir, "s", "containerd", "containerd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidText))
	oomScore := func() string {
		b, err := os.ReadFile("/proc/" + pid + "/oom_score_adj")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if s := oomScore(); s != "200" {
		t.Errorf("oom_score_adj %s, want 200", s)
	}
	if cfg, err := os.ReadFile(filepath.Join(dir, "s", "containerd", "config.toml")); err != nil || !strings.Contains(string(cfg), `level = "debug"`) {
		t.Errorf("config without the debug level (%v):\n%s", err, cfg)
	}
	if err := r.UpdateOptions(WithOOMScore(300)); err != nil {
		t.Fatalf("update options: %v", err)
	}
	if s := oomScore(); s != "300" {
		t.Errorf("oom_score_adj %s after the update, want 300", s)
	}

	rec := newRecorder()
	c, err := r.Client(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := uniqueID("opts")
	if err := c.Create(ctx, id, busyboxSpec("sh", "-c", "trap 'exit 3' TERM; echo ready; sleep 300 & wait")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitUntil(t, "the trap", func() bool {
		s := rec.streams[id+"/"+InitProcessID]
		return s != nil && strings.Contains(s.stdout.String(), "ready")
	})
	loggedCall(t, log, "--log-format json", " create ", id)
	// Without live restore, Cleanup stops the container and delivers its exit first.
	if err := r.Cleanup(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	rec.mu.Lock()
	exit, ok := rec.find(id, "", StateExit, 1)
	rec.mu.Unlock()
	if !ok {
		t.Errorf("no exit delivered by the time Cleanup returned: %v", rec.states(id))
	} else if exit.ExitCode != 3 {
		t.Errorf("exit %+v, want 3 from the SIGTERM trap", exit)
	}
	if err := syscall.Kill(atoi(t, pid), 0); err == nil {
		t.Errorf("containerd %s still running after Cleanup", pid)
	}
	r.Close()
	if err := r.Cleanup(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("cleanup after close: %v", err)
	}
}

func TestNamespaceOnAnExistingDaemon(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(testStateDir, "containerd", "containerd.sock")
	r, err := New(ctx, WithRemoteAddr(sock), WithNamespace("gotest-other"))
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	defer r.Close()
	rec := newRecorder()
	c, err := r.Client(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	main, mainRec := newClient(t)
	id := uniqueID("ns")
	if err := c.Create(ctx, id, busyboxSpec("sleep", "300")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitFor(t, id, StateStart)
	if _, ok := listed(t, c, id); !ok {
		t.Errorf("%s not listed in its namespace", id)
	}
	if _, ok := listed(t, main, id); ok {
		t.Errorf("%s listed in the default namespace", id)
	}
	// The same id is free in the other namespace.
	if err := main.Create(ctx, id, busyboxSpec("true")); err != nil {
		t.Errorf("create %s in the default namespace: %v", id, err)
	} else {
		mainRec.waitFor(t, id, StateExit)
	}
	kill(t, c, rec, id)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func containsSummary(xs []Summary, x Summary) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func indexOf(xs []State, x State) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

func TestShimPoolOption(t *testing.T) {
	dir := tempDir(t)
	if _, err := New(context.Background(), WithStateDir(filepath.Join(dir, "s")), WithShimPool(65)); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "shim_pool") {
		t.Fatalf("shim_pool 65: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "s")); !os.IsNotExist(err) {
		t.Errorf("an invalid shim_pool started something: %v", err)
	}
}
