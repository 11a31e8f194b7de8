package libcontainerd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests run real containers on one containerd, started through WithStartDaemon
// in a temporary state directory (under LCD_TEST_TMPDIR when set), with the busybox
// rootfs at LCD_TEST_ROOTFS (default: build/rootfs of the repository).

var (
	testRemote   *Remote
	testRootfs   string
	testStateDir string // the shared remote's
	testTmp      string // parent of the tests' temporary directories
	testSuiteDir string // files that must outlive every container of the shared remote
)

// timeout bounds every wait for an event or output.
const timeout = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "the libcontainerd tests run containers: they need root")
		return 1
	}
	testRootfs = os.Getenv("LCD_TEST_ROOTFS")
	if testRootfs == "" {
		testRootfs = "../../build/rootfs"
	}
	abs, err := filepath.Abs(testRootfs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testRootfs = abs
	os.Setenv("LCD_TEST_ROOTFS", testRootfs) // for the examples
	if _, err := os.Stat(filepath.Join(testRootfs, "bin", "busybox")); err != nil {
		fmt.Fprintf(os.Stderr, "the busybox rootfs is missing at %s (run scripts/setup.sh or set LCD_TEST_ROOTFS): %v\n", testRootfs, err)
		return 1
	}
	parent := os.Getenv("LCD_TEST_TMPDIR")
	if parent == "" {
		parent = "/tmp"
	}
	testTmp = parent
	stateDir, err := os.MkdirTemp(parent, "go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(stateDir)
	testStateDir = stateDir
	os.Setenv("LCD_TEST_STATE_DIR", stateDir) // for the examples, which share the daemon
	// Removed only after the cleanup below: a runtime a container was created with is
	// still run (runc delete) while containerd removes the container after its exit.
	suiteDir, err := os.MkdirTemp(parent, "go-suite-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(suiteDir)
	testSuiteDir = suiteDir
	testRemote, err = New(ctx, WithStateDir(stateDir), WithStartDaemon(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting containerd:", err)
		return 1
	}
	code := m.Run()
	if err := testRemote.Cleanup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
		code = 1
	}
	testRemote.Close()
	return code
}

var idSeq int64

// uniqueID returns a container id unique in this test run.
func uniqueID(prefix string) string {
	return fmt.Sprintf("go-%s-%d-%d", prefix, os.Getpid(), atomic.AddInt64(&idSeq, 1))
}

var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// busyboxSpec runs args as root in the busybox rootfs (read-only, its own namespaces).
func busyboxSpec(args ...string) Spec {
	return Spec{
		Version: "1.0.2",
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: args,
			Env:  []string{"PATH=/bin:/usr/bin", "HOME=/root"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: testRootfs, Readonly: true},
		Hostname: "test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
}

// event is one StateChanged call.
type event struct {
	id   string
	info StateInfo
}

// stream is one process's captured stdio.
type stream struct {
	stdin    io.WriteCloser
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	open     int // output streams still being read
	terminal bool
}

// recorder is a Backend that records every event and captures every process's
// output; a test keeps a process's stdin (keepStdin) to write to it.
type recorder struct {
	mu        sync.Mutex
	cond      *sync.Cond
	events    []event
	streams   map[string]*stream // "<container>/<process>", the latest run
	attaches  map[string]int
	keepStdin bool
	// onState, when set, runs inside StateChanged before the event is recorded.
	onState func(id string, info StateInfo) error
	// onAttach, when set, replaces the capture in AttachStreams.
	onAttach func(id, processID string, io IOPipe) error
}

func newRecorder() *recorder {
	r := &recorder{streams: map[string]*stream{}, attaches: map[string]int{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// StateChanged implements Backend.
// The hook runs first, so that a test waiting for an event knows it has run.
func (r *recorder) StateChanged(id string, info StateInfo) error {
	r.mu.Lock()
	hook := r.onState
	r.mu.Unlock()
	var err error
	if hook != nil {
		err = hook(id, info)
	}
	r.mu.Lock()
	r.events = append(r.events, event{id, info})
	r.cond.Broadcast()
	r.mu.Unlock()
	return err
}

// AttachStreams implements Backend.
func (r *recorder) AttachStreams(id, processID string, pipe IOPipe) error {
	r.mu.Lock()
	hook := r.onAttach
	r.attaches[id+"/"+processID]++
	r.mu.Unlock()
	if hook != nil {
		return hook(id, processID, pipe)
	}
	s := &stream{open: 2, terminal: pipe.Terminal}
	r.mu.Lock()
	r.streams[id+"/"+processID] = s
	if r.keepStdin {
		s.stdin = pipe.Stdin
	} else {
		pipe.Stdin.Close()
	}
	r.mu.Unlock()
	copyOut := func(src io.ReadCloser, dst *bytes.Buffer) {
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			r.mu.Lock()
			dst.Write(buf[:n])
			if err != nil {
				s.open--
			}
			r.cond.Broadcast()
			r.mu.Unlock()
			if err != nil {
				src.Close()
				return
			}
		}
	}
	go copyOut(pipe.Stdout, &s.stdout)
	go copyOut(pipe.Stderr, &s.stderr)
	return nil
}

// waitUntil waits until cond (called with r.mu held) holds.
func (r *recorder) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; events: %v", what, r.events)
		}
		r.cond.Wait()
	}
}

// find returns the n-th (from 1) event of container id in state for process.
func (r *recorder) find(id, process string, state State, n int) (StateInfo, bool) {
	for _, e := range r.events {
		if e.id == id && e.info.State == state && (process == "" || e.info.ProcessID == process) {
			n--
			if n == 0 {
				return e.info, true
			}
		}
	}
	return StateInfo{}, false
}

// waitFor waits for the first event of container id in state.
func (r *recorder) waitFor(t *testing.T, id string, state State) StateInfo {
	t.Helper()
	return r.waitForNth(t, id, "", state, 1)
}

// waitForNth waits for the n-th event of container id in state (for process, if set).
func (r *recorder) waitForNth(t *testing.T, id, process string, state State, n int) StateInfo {
	t.Helper()
	var info StateInfo
	r.waitUntil(t, fmt.Sprintf("%s %s %s #%d", id, process, state, n), func() bool {
		var ok bool
		info, ok = r.find(id, process, state, n)
		return ok
	})
	return info
}

// states lists the states of container id's events, in order.
func (r *recorder) states(id string) []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, e := range r.events {
		if e.id == id {
			out = append(out, e.info.State)
		}
	}
	return out
}

// output waits until both output streams of the process are closed and returns them.
func (r *recorder) output(t *testing.T, id, process string) (stdout, stderr string) {
	t.Helper()
	key := id + "/" + process
	r.waitUntil(t, "output of "+key, func() bool {
		s := r.streams[key]
		return s != nil && s.open == 0
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[key]
	return s.stdout.String(), s.stderr.String()
}

// stdin returns the kept stdin of a process.
func (r *recorder) stdin(t *testing.T, id, process string) io.WriteCloser {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[id+"/"+process]
	if s == nil || s.stdin == nil {
		t.Fatalf("no stdin kept for %s/%s", id, process)
	}
	return s.stdin
}

// newClient makes a client on the shared remote with a fresh recorder, closed when
// the test ends.
func newClient(t *testing.T) (*Client, *recorder) {
	t.Helper()
	rec := newRecorder()
	c, err := testRemote.Client(context.Background(), rec)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// kill stops a container and waits for its exit.
func kill(t *testing.T, c *Client, rec *recorder, id string) StateInfo {
	t.Helper()
	if err := c.Signal(context.Background(), id, 9); err != nil {
		t.Fatalf("signal %s: %v", id, err)
	}
	return rec.waitFor(t, id, StateExit)
}

// listed returns container id's entry in c.List, if any.
func listed(t *testing.T, c *Client, id string) (Container, bool) {
	t.Helper()
	l, err := c.List(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, ct := range l {
		if ct.ID == id {
			return ct, true
		}
	}
	return Container{}, false
}

// tempDir makes a temporary directory (short: it may hold a containerd socket),
// removed when the test ends.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(testTmp, "go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// suiteTempDir returns a new directory that lasts until the shared remote has been
// cleaned up (for runtimes of containers on it: removing one while containerd still
// removes a container leaves that container's shim running).
func suiteTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(testSuiteDir, "t-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runcWrapper writes an executable at dir/name that logs its arguments to the
// returned log file and runs runc with them.
func runcWrapper(t *testing.T, dir, name string) (path, log string) {
	t.Helper()
	path = filepath.Join(dir, name)
	log = path + ".log"
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexec runc \"$@\"\n", log)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

// loggedCall waits for a line of the wrapper's log that begins with prefix and
// contains every one of parts, and fails the test if none comes.
func loggedCall(t *testing.T, log, prefix string, parts ...string) {
	t.Helper()
	b, _ := os.ReadFile(log)
	for _, line := range strings.Split(string(b), "\n") {
		ok := strings.HasPrefix(line, prefix)
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no call %q ... %q in %s:\n%s", prefix, parts, log, b)
}
