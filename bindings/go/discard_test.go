package libcontainerd

// Output nobody reads (discard.go): DiscardStreams and IOPipe.Discard on real
// containers that write far more than a pipe holds.

import (
	"context"
	"sync/atomic"
	"testing"
)

// bigOutput writes 1 MiB to stdout and to stderr, then exits 0.
var bigOutput = []string{"sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"}

// ignoring is a Backend whose AttachStreams neither reads nor closes the streams:
// alone, it blocks any process that writes more than a pipe's worth.
type ignoring struct {
	*recorder
	attaches int32
	kept     []IOPipe
}

func (b *ignoring) AttachStreams(id, processID string, pipe IOPipe) error {
	atomic.AddInt32(&b.attaches, 1)
	b.mu.Lock()
	b.kept = append(b.kept, pipe) // kept open, never read
	b.mu.Unlock()
	return nil
}

func TestDiscardStreamsLetsLargeOutputExit(t *testing.T) {
	ctx := context.Background()
	b := &ignoring{recorder: newRecorder()}
	c, err := testRemote.Client(ctx, DiscardStreams(b))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := uniqueID("discard")
	if err := c.Create(ctx, id, busyboxSpec(bigOutput...)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if exit := b.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
	// An exec's output is discarded too.
	id2 := uniqueID("discardexec")
	if err := c.Create(ctx, id2, busyboxSpec("sleep", "60")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := c.AddProcess(ctx, id2, "big", Process{Args: bigOutput}); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if exit := b.waitForNth(t, id2, "big", StateExitProcess, 1); exit.ExitCode != 0 {
		t.Errorf("exec exit %+v", exit)
	}
	kill(t, c, b.recorder, id2)
	if n := atomic.LoadInt32(&b.attaches); n != 0 {
		t.Errorf("AttachStreams of the wrapped Backend called %d times", n)
	}
	if DiscardStreams(DiscardStreams(b)) != DiscardStreams(b) {
		t.Errorf("DiscardStreams wraps twice")
	}
}

func TestIOPipeDiscardLetsLargeOutputExit(t *testing.T) {
	ctx := context.Background()
	rec := newRecorder()
	rec.onAttach = func(id, processID string, pipe IOPipe) error {
		pipe.Discard()
		return nil
	}
	c, err := testRemote.Client(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := uniqueID("pipediscard")
	if err := c.Create(ctx, id, busyboxSpec(bigOutput...)); err != nil {
		t.Fatalf("create: %v", err)
	}
	if exit := rec.waitFor(t, id, StateExit); exit.ExitCode != 0 {
		t.Errorf("exit %+v", exit)
	}
}
