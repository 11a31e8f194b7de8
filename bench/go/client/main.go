// Command client is the containerd Go client's side of the benchmark: the same
// workloads as the library's driver (bench/lcd_bench.rs), written the way a Go program
// uses github.com/containerd/containerd/v2/client, against the daemon bench/run.py
// starts. It prints one JSON object with its measurements on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const runtimeName = "io.containerd.runc.v2"

// groupAnnotation makes containerd's runc shim run every container of one group in a
// single shim process.
const groupAnnotation = "io.containerd.runc.v2.group"

var (
	mode     = flag.String("mode", "lifecycle", "lifecycle | exec | stdout")
	socket   = flag.String("socket", "", "containerd socket")
	ns       = flag.String("namespace", "lcdbench-go", "containerd namespace")
	specPath = flag.String("spec", "", "OCI spec (config.json) shared by every driver")
	stateDir = flag.String("state-dir", "", "directory for fifos and runc state")
	prefix   = flag.String("prefix", "go", "container id prefix")
	iters    = flag.Int("iters", 10, "iterations (total over all workers)")
	workers  = flag.Int("workers", 1, "concurrent workers")
	ioMode   = flag.String("io", "fifo", "fifo (stdout/stderr fifos, discarded) | null (cio.NullIO)")
	group    = flag.String("group", "", "shim group: share one shim between containers (runc shim annotation)")
	mib      = flag.Int("mib", 1024, "stdout: MiB written by dd")
	raw      = flag.Bool("raw", false, "stdout: read the shim's fifo directly with read(2) instead of through cio")
)

type bench struct {
	client   *containerd.Client
	ctx      context.Context
	specJSON []byte
	runcRoot string
	fifoDir  string
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func (b *bench) spec(id string, args []string) *specs.Spec {
	var s specs.Spec
	must(json.Unmarshal(b.specJSON, &s), "parse spec")
	s.Process.Args = args
	if s.Linux != nil {
		s.Linux.CgroupsPath = "/" + *ns + "/" + id
	}
	if *group != "" {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[groupAnnotation] = *group
	}
	return &s
}

func (b *bench) newContainer(id string, args []string) (containerd.Container, error) {
	return b.client.NewContainer(b.ctx, id,
		containerd.WithSpec(b.spec(id, args)),
		containerd.WithRuntime(runtimeName, &options.Options{Root: b.runcRoot}))
}

func (b *bench) creator() cio.Creator {
	if *ioMode == "null" {
		return cio.NullIO
	}
	return cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard), cio.WithFIFODir(b.fifoDir))
}

// lifecycle is the containerd-stress iteration: create, start, wait for the exit,
// delete the task and the container. It is timed to the return of the container's
// Delete; the time Wait returned is recorded on the side. Only a failed iteration
// cleans up after itself (the success path deletes each object once).
func (b *bench) lifecycle(id string) (total, exitSeen, reaped time.Duration, err error) {
	t0 := time.Now()
	c, err := b.newContainer(id, []string{"/bin/true"})
	if err != nil {
		return
	}
	var task containerd.Task
	defer func() {
		if err == nil {
			return
		}
		if task != nil {
			_, _ = task.Delete(b.ctx, containerd.WithProcessKill)
		}
		_ = c.Delete(b.ctx)
	}()
	task, err = c.NewTask(b.ctx, b.creator())
	if err != nil {
		return
	}
	ch, err := task.Wait(b.ctx)
	if err != nil {
		return
	}
	if err = task.Start(b.ctx); err != nil {
		return
	}
	st := <-ch
	seen := time.Now()
	if _, err = task.Delete(b.ctx); err != nil {
		return
	}
	if err = c.Delete(b.ctx); err != nil {
		return
	}
	done := time.Now()
	exitSeen = seen.Sub(st.ExitTime())
	reaped = done.Sub(st.ExitTime())
	total = done.Sub(t0)
	return
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// cpuMs is the CPU time (user + system) this process has used so far, in ms.
func cpuMs() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func runLifecycle() map[string]any {
	b := newBench()
	var anchor func()
	if *group != "" {
		// One long-running container keeps the group's shim alive between iterations.
		anchor = b.startSleeper(*prefix + "-anchor")
	}
	var mu sync.Mutex
	var lat, seen, reaped []float64
	var next int64 = -1
	var failures int64
	cpu0 := cpuMs()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(*iters) {
					return
				}
				t, s, r, err := b.lifecycle(fmt.Sprintf("%s-%d-%d", *prefix, w, i))
				if err != nil {
					fmt.Fprintf(os.Stderr, "lifecycle: %v\n", err)
					atomic.AddInt64(&failures, 1)
					continue
				}
				mu.Lock()
				lat = append(lat, ms(t))
				seen = append(seen, ms(s))
				reaped = append(reaped, ms(r))
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuMs() - cpu0
	if anchor != nil {
		anchor()
	}
	return map[string]any{
		"lat_ms": lat, "exit_seen_ms": seen, "reaped_ms": reaped,
		"elapsed_s": elapsed.Seconds(), "n": len(lat), "failures": failures, "cpu_ms": cpu,
	}
}

// startSleeper runs a `sleep` container and returns the function that stops and
// deletes it.
func (b *bench) startSleeper(id string) func() {
	c, err := b.newContainer(id, []string{"/bin/sleep", "3600"})
	must(err, "create "+id)
	task, err := c.NewTask(b.ctx, cio.NullIO)
	must(err, "task "+id)
	ch, err := task.Wait(b.ctx)
	must(err, "wait "+id)
	must(task.Start(b.ctx), "start "+id)
	return func() {
		_ = task.Kill(b.ctx, syscall.SIGKILL)
		<-ch
		_, _ = task.Delete(b.ctx)
		_ = c.Delete(b.ctx)
	}
}

func runExec() map[string]any {
	b := newBench()
	id := *prefix + "-exec"
	stop := b.startSleeper(id)
	defer stop()
	c, err := b.client.LoadContainer(b.ctx, id)
	must(err, "load")
	task, err := c.Task(b.ctx, nil)
	must(err, "task")
	base := b.spec(id, []string{"/bin/true"}).Process
	var lat []float64
	cpu0 := cpuMs()
	for i := 0; i < *iters; i++ {
		t0 := time.Now()
		p, err := task.Exec(b.ctx, fmt.Sprintf("e%d", i), base, b.creator())
		must(err, "exec")
		ch, err := p.Wait(b.ctx)
		must(err, "exec wait")
		must(p.Start(b.ctx), "exec start")
		<-ch
		_, err = p.Delete(b.ctx)
		must(err, "exec delete")
		lat = append(lat, ms(time.Since(t0)))
	}
	return map[string]any{"lat_ms": lat, "n": len(lat), "cpu_ms": cpuMs() - cpu0}
}

// meter counts bytes and remembers when the first and the last arrived.
type meter struct {
	n           int64
	first, last time.Time
	want        int64
	done        chan struct{}
}

func (m *meter) Write(p []byte) (int, error) {
	now := time.Now()
	if m.n == 0 {
		m.first = now
	}
	m.n += int64(len(p))
	m.last = now
	if m.n >= m.want && m.done != nil {
		close(m.done)
		m.done = nil
	}
	return len(p), nil
}

func (m *meter) gbps() float64 {
	return float64(m.n) / m.last.Sub(m.first).Seconds() / 1e9
}

func runStdout() map[string]any {
	b := newBench()
	want := int64(*mib) << 20
	args := []string{"/bin/dd", "if=/dev/zero", "bs=1M", fmt.Sprintf("count=%d", *mib)}
	var rates []float64
	for i := 0; i < *iters; i++ {
		id := fmt.Sprintf("%s-out-%d", *prefix, i)
		c, err := b.newContainer(id, args)
		must(err, "create")
		m := &meter{want: want, done: make(chan struct{})}
		done := m.done
		var creator cio.Creator
		var rawDone chan struct{}
		if *raw {
			creator, rawDone = b.rawFifo(id, m)
		} else {
			creator = cio.NewCreator(cio.WithStreams(nil, m, io.Discard), cio.WithFIFODir(b.fifoDir))
		}
		task, err := c.NewTask(b.ctx, creator)
		must(err, "task")
		ch, err := task.Wait(b.ctx)
		must(err, "wait")
		must(task.Start(b.ctx), "start")
		if rawDone != nil {
			<-rawDone
		} else {
			<-done
		}
		<-ch
		_, err = task.Delete(b.ctx)
		must(err, "delete")
		must(c.Delete(b.ctx), "container delete")
		if m.n != want {
			must(fmt.Errorf("read %d bytes, want %d", m.n, want), "stdout")
		}
		rates = append(rates, m.gbps())
	}
	return map[string]any{"gbps": rates, "n": len(rates)}
}

// rawFifo hands the shim fifo paths of our own and reads stdout with plain read(2)
// calls of 64 KiB: the ceiling for any client reading the shim's fifo.
func (b *bench) rawFifo(id string, m *meter) (cio.Creator, chan struct{}) {
	dir := filepath.Join(b.fifoDir, id)
	must(os.MkdirAll(dir, 0o700), "fifo dir")
	out := filepath.Join(dir, "stdout")
	errPath := filepath.Join(dir, "stderr")
	must(syscall.Mkfifo(out, 0o600), "mkfifo")
	must(syscall.Mkfifo(errPath, 0o600), "mkfifo")
	done := make(chan struct{})
	creator := func(string) (cio.IO, error) {
		fd, err := syscall.Open(out, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		// A writer end of our own keeps the read end blocking until the shim opens it.
		keep, err := syscall.Open(out, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		// stderr (empty here) is read to its end on the side.
		errFd, err := syscall.Open(errPath, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		flags, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
		syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, flags&^syscall.O_NONBLOCK)
		go func() {
			buf := make([]byte, 64<<10)
			for m.n < m.want {
				n, err := syscall.Read(fd, buf)
				if n <= 0 || err != nil {
					break
				}
				m.Write(buf[:n])
			}
			syscall.Close(keep)
			syscall.Close(fd)
			syscall.Close(errFd)
			os.RemoveAll(dir)
			close(done)
		}()
		return &rawIO{cfg: cio.Config{Stdout: out, Stderr: errPath}}, nil
	}
	return creator, done
}

type rawIO struct{ cfg cio.Config }

func (r *rawIO) Config() cio.Config { return r.cfg }
func (r *rawIO) Cancel()            {}
func (r *rawIO) Wait()              {}
func (r *rawIO) Close() error       { return nil }

func newBench() *bench {
	client, err := containerd.New(*socket)
	must(err, "connect")
	spec, err := os.ReadFile(*specPath)
	must(err, "read spec")
	b := &bench{
		client:   client,
		ctx:      namespaces.WithNamespace(context.Background(), *ns),
		specJSON: spec,
		runcRoot: filepath.Join(*stateDir, "runc"),
		fifoDir:  filepath.Join(*stateDir, "fifo"),
	}
	must(os.MkdirAll(b.fifoDir, 0o700), "fifo dir")
	return b
}

func main() {
	flag.Parse()
	var out map[string]any
	switch *mode {
	case "lifecycle":
		out = runLifecycle()
	case "exec":
		out = runExec()
	case "stdout":
		out = runStdout()
	default:
		must(fmt.Errorf("unknown mode %q", *mode), "mode")
	}
	must(json.NewEncoder(os.Stdout).Encode(out), "encode")
}
