package libcontainerd_test

// godoc examples of the main calls. They share the test suite's containerd: a
// second Remote on a state directory reuses the daemon that runs there.

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"sync"
	"syscall"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// exampleStateDir is the state directory of the containerd the examples use (the
// test suite's); a program would pick its own, such as /run/my-app.
func exampleStateDir() string { return os.Getenv("LCD_TEST_STATE_DIR") }

// exampleSpec runs args as root in the busybox root filesystem of the tests.
func exampleSpec(args ...string) libcontainerd.Spec {
	return libcontainerd.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:    &specs.Root{Path: os.Getenv("LCD_TEST_ROOTFS"), Readonly: true},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
		}},
	}
}

// watcher is a Backend that hands every event to a channel and collects each
// process's stdout.
type watcher struct {
	events chan libcontainerd.StateInfo
	mu     sync.Mutex
	wg     sync.WaitGroup
	out    map[string][]byte
}

func newWatcher() *watcher {
	return &watcher{events: make(chan libcontainerd.StateInfo, 64), out: map[string][]byte{}}
}

// StateChanged passes the event on.
func (w *watcher) StateChanged(containerID string, info libcontainerd.StateInfo) error {
	w.events <- info
	return nil
}

// AttachStreams reads stdout and stderr to their end (output nobody reads blocks the
// process), keeping stdout.
func (w *watcher) AttachStreams(containerID, processID string, pipe libcontainerd.IOPipe) error {
	pipe.Stdin.Close()
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		defer pipe.Stderr.Close()
		io.Copy(io.Discard, pipe.Stderr)
	}()
	go func() {
		defer w.wg.Done()
		defer pipe.Stdout.Close()
		b, _ := io.ReadAll(pipe.Stdout)
		w.mu.Lock()
		w.out[processID] = b
		w.mu.Unlock()
	}()
	return nil
}

// waitFor returns the next event in state.
func (w *watcher) waitFor(state libcontainerd.State) libcontainerd.StateInfo {
	for info := range w.events {
		if info.State == state {
			return info
		}
	}
	panic("closed")
}

// Runs a process next to a container's own with AddProcess and reads its output.
func ExampleClient_AddProcess() {
	ctx := context.Background()
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(exampleStateDir()))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	w := newWatcher()
	client, err := remote.Client(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	if err := client.Create(ctx, "ex-exec", exampleSpec("sleep", "60")); err != nil {
		log.Fatal(err)
	}
	w.waitFor(libcontainerd.StateStart)
	p := libcontainerd.Process{Args: []string{"sh", "-c", "echo hello from an exec; exit 3"}}
	if err := client.AddProcess(ctx, "ex-exec", "hello", p); err != nil {
		log.Fatal(err)
	}
	fmt.Println("exec exit code", w.waitFor(libcontainerd.StateExitProcess).ExitCode)
	if err := client.Signal(ctx, "ex-exec", int(syscall.SIGKILL)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("container exit code", w.waitFor(libcontainerd.StateExit).ExitCode)
	w.wg.Wait()
	fmt.Printf("%s", w.out["hello"])
	// Output:
	// exec exit code 3
	// container exit code 137
	// hello from an exec
}

// Freezes and thaws a container; the Backend hears of both.
func ExampleClient_Pause() {
	ctx := context.Background()
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(exampleStateDir()))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	w := newWatcher()
	client, err := remote.Client(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	if err := client.Create(ctx, "ex-pause", exampleSpec("sleep", "60")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.waitFor(libcontainerd.StateStart).State)
	if err := client.Pause(ctx, "ex-pause"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.waitFor(libcontainerd.StatePause).State)
	if err := client.Resume(ctx, "ex-pause"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.waitFor(libcontainerd.StateResume).State)
	client.Signal(ctx, "ex-pause", int(syscall.SIGKILL))
	fmt.Println(w.waitFor(libcontainerd.StateExit).State)
	// Output:
	// start-container
	// pause
	// resume
	// exit
}

// Reads a running container's figures and process list, and the client's containers.
func ExampleClient_Stats() {
	ctx := context.Background()
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(exampleStateDir()))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	w := newWatcher()
	client, err := remote.Client(ctx, w)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	if err := client.Create(ctx, "ex-stats", exampleSpec("sleep", "60")); err != nil {
		log.Fatal(err)
	}
	w.waitFor(libcontainerd.StateStart)
	stats, err := client.Stats(ctx, "ex-stats")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("has processes:", stats.Pids.Current > 0)
	fmt.Println("memory used:", stats.Memory.Usage.Usage > 0)
	procs, err := client.Summary(ctx, "ex-stats")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range procs {
		if p.ProcessID == libcontainerd.InitProcessID {
			fmt.Println("init process: pid", p.Pid > 0)
		}
	}
	list, err := client.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		if c.ID == "ex-stats" {
			ids = append(ids, c.ID+" "+c.Status)
		}
	}
	sort.Strings(ids)
	fmt.Println("listed:", ids)
	client.Signal(ctx, "ex-stats", int(syscall.SIGKILL))
	w.waitFor(libcontainerd.StateExit)
	// Output:
	// has processes: true
	// memory used: true
	// init process: pid true
	// listed: [ex-stats running]
}

// quiet is a Backend that only reports exits; its processes' output is discarded.
type quiet struct{ exited chan uint32 }

func (q quiet) StateChanged(containerID string, info libcontainerd.StateInfo) error {
	if info.State == libcontainerd.StateExit {
		q.exited <- info.ExitCode
	}
	return nil
}

// AttachStreams is never called for a Backend wrapped in DiscardStreams.
func (q quiet) AttachStreams(containerID, processID string, pipe libcontainerd.IOPipe) error {
	return nil
}

// Runs a container whose output nobody wants: with DiscardStreams the library
// throws it away, so the container never blocks on a full pipe.
func ExampleDiscardStreams() {
	ctx := context.Background()
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(exampleStateDir()))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	q := quiet{exited: make(chan uint32, 1)}
	client, err := remote.Client(ctx, libcontainerd.DiscardStreams(q))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// 1 MiB of output, far more than a pipe holds.
	if err := client.Create(ctx, "ex-discard", exampleSpec("sh", "-c", "head -c 1048576 /dev/zero")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", <-q.exited)
	// Output:
	// exit code 0
}
