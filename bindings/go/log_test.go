package libcontainerd

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logRecord is one record a collectingHandler received.
type logRecord struct {
	level   slog.Level
	message string
	target  string
}

// collectingHandler is a slog.Handler that keeps every record at or above level.
type collectingHandler struct {
	level slog.Level
	mu    sync.Mutex
	recs  []logRecord
}

func (h *collectingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *collectingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, message: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "target" {
			rec.target = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *collectingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *collectingHandler) WithGroup(string) slog.Handler      { return h }

// find returns the first record whose message contains s.
func (h *collectingHandler) find(s string) (logRecord, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.recs {
		if strings.Contains(r.message, s) {
			return r, true
		}
	}
	return logRecord{}, false
}

func (h *collectingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recs)
}

// waitRecord waits for a record whose message contains s.
func waitRecord(t *testing.T, h *collectingHandler, s string) logRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r, ok := h.find(s); ok {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log record containing %q among %d", s, h.count())
	return logRecord{}
}

// runTrue runs `true` in a new container and waits for its exit.
func runTrue(t *testing.T, c *Client, rec *recorder, prefix string) string {
	t.Helper()
	id := uniqueID(prefix)
	if err := c.Create(context.Background(), id, busyboxSpec("true")); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	rec.waitFor(t, id, StateExit)
	return id
}

// killDaemon kills the containerd of stateDir and waits until a new one is recorded.
func killDaemon(t *testing.T, stateDir string) {
	t.Helper()
	pidFile := filepath.Join(stateDir, "containerd", "containerd.pid")
	readPid := func() int {
		b, _ := os.ReadFile(pidFile)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	pid := readPid()
	if pid <= 1 {
		t.Fatalf("no containerd pid in %s", pidFile)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill containerd: %v", err)
	}
	deadline := time.Now().Add(timeout)
	for readPid() == pid && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSetLogger: warnings when containerd is relaunched, lifecycle records at debug,
// nothing after SetLogger(nil).
func TestSetLogger(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() { SetLogger(nil) })
	stateDir, err := os.MkdirTemp(testTmp, "golog-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(stateDir)

	warn := &collectingHandler{level: slog.LevelWarn}
	if err := SetLogger(slog.New(warn)); err != nil {
		t.Fatalf("SetLogger: %v", err)
	}
	r, err := New(ctx, WithStateDir(stateDir))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer r.Close()
	rec := newRecorder()
	c, err := r.Client(ctx, rec)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer c.Close()

	killDaemon(t, stateDir)
	got := waitRecord(t, warn, "relaunch")
	if got.level < slog.LevelWarn || !strings.HasPrefix(got.target, "containerd") {
		t.Errorf("relaunch record %+v", got)
	}
	if _, ok := warn.find("start-container"); ok {
		t.Errorf("a debug record reached a warn logger")
	}

	debug := &collectingHandler{level: slog.LevelDebug}
	if err := SetLogger(slog.New(debug)); err != nil {
		t.Fatalf("SetLogger: %v", err)
	}
	id := runTrue(t, c, rec, "log-debug")
	if got := waitRecord(t, debug, id); got.level != slog.LevelDebug {
		t.Errorf("lifecycle record %+v", got)
	}

	if err := SetLogger(nil); err != nil {
		t.Fatalf("SetLogger(nil): %v", err)
	}
	before := debug.count() + warn.count()
	runTrue(t, c, rec, "log-off")
	killDaemon(t, stateDir)
	time.Sleep(time.Second)
	if after := debug.count() + warn.count(); after != before {
		t.Errorf("%d records after SetLogger(nil)", after-before)
	}
}

// blockingHandler blocks each record 1 s at a time until released (10 s at most).
type blockingHandler struct {
	released chan struct{}
	mu       sync.Mutex
	inside   bool
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *blockingHandler) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	h.inside = true
	h.mu.Unlock()
	for i := 0; i < 10; i++ {
		select {
		case <-h.released:
			i = 10
		case <-time.After(time.Second):
		}
	}
	h.mu.Lock()
	h.inside = false
	h.mu.Unlock()
	return nil
}

func (h *blockingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *blockingHandler) WithGroup(string) slog.Handler      { return h }

// TestBlockingLoggerDelaysNoEvent: the exit event arrives while the log handler blocks.
func TestBlockingLoggerDelaysNoEvent(t *testing.T) {
	h := &blockingHandler{released: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(h.released) }) }
	defer release()
	if err := SetLogger(slog.New(h)); err != nil {
		t.Fatalf("SetLogger: %v", err)
	}
	t.Cleanup(func() { release(); SetLogger(nil) })
	c, rec := newClient(t)
	id := uniqueID("log-slow")
	var blockingAtExit []bool
	rec.onState = func(cid string, info StateInfo) error {
		if cid == id && info.State == StateExit {
			h.mu.Lock()
			blockingAtExit = append(blockingAtExit, h.inside)
			h.mu.Unlock()
			release()
		}
		return nil
	}
	if err := c.Create(context.Background(), id, busyboxSpec("true")); err != nil {
		t.Fatalf("create: %v", err)
	}
	rec.waitFor(t, id, StateExit)
	if len(blockingAtExit) != 1 || !blockingAtExit[0] {
		t.Errorf("the exit event waited for the blocking log handler (%v)", blockingAtExit)
	}
}
