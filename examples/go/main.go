// Command demo is a tour of libcontainerd from Go, doing what examples/demo.c does.
//
//	go run . <state_dir> <rootfs_dir>
//
// It starts a containerd of its own under <state_dir>, runs a busybox container "demo"
// from <rootfs_dir> that prints a few lines, execs `ps` in it, prints its stats and
// the container list, kills it and waits for its exit event, then stops containerd.
// Every event is printed as it arrives, and every line a process writes is printed
// prefixed with container/process/stream. Needs root, and the library built with
// `cargo build --release` in the repository root.
//
// With LCD_DEMO_REGISTRY=<host:port> (a registry reached over plain HTTP, e.g. one that
// scripts/test-registry.sh seeds), it first pulls LCD_DEMO_IMAGE (default
// test/busybox:latest) from it, showing the pull's progress as it comes (bytes done and
// in all per layer: one updating line on a terminal, a line per report otherwise), and
// runs a container "demo-image" from that image until it exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
)

const (
	container      = "demo"
	execID         = "ps"
	imageContainer = "demo-image"
)

// out prints whole lines from any goroutine.
var outMu sync.Mutex

func say(format string, args ...interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

// backend prints every event and every line of output, and tells main about exits.
type backend struct {
	exits   chan libcontainerd.StateInfo // exit and exit-process events
	copiers sync.WaitGroup
}

// StateChanged prints the event; exits also go to main.
func (b *backend) StateChanged(containerID string, info libcontainerd.StateInfo) error {
	say("event: %s %s process=%s pid=%d exit_code=%d", containerID, info.State, info.ProcessID, info.Pid, info.ExitCode)
	if info.State == libcontainerd.StateExit || info.State == libcontainerd.StateExitProcess {
		b.exits <- info
	}
	return nil
}

// AttachStreams closes stdin and prints stdout and stderr line by line until they end
// (output must be read to its end, or the process blocks).
func (b *backend) AttachStreams(containerID, processID string, pipe libcontainerd.IOPipe) error {
	pipe.Stdin.Close()
	for name, r := range map[string]io.ReadCloser{"stdout": pipe.Stdout, "stderr": pipe.Stderr} {
		b.copiers.Add(1)
		go func(label string, r io.ReadCloser) {
			defer b.copiers.Done()
			defer r.Close()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				say("[%s] %s", label, sc.Text())
			}
		}(fmt.Sprintf("%s/%s %s", containerID, processID, name), r)
	}
	return nil
}

// waitExit waits up to 10 s for the exit event of process (init: the container's).
func (b *backend) waitExit(process string) (libcontainerd.StateInfo, error) {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case info := <-b.exits:
			if info.ProcessID == process {
				return info, nil
			}
		case <-deadline:
			return libcontainerd.StateInfo{}, fmt.Errorf("no exit of %s within 10 s", process)
		}
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s <state_dir> <rootfs_dir>\n", os.Args[0])
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		say("demo failed")
		os.Exit(1)
	}
	say("demo finished")
}

func run(stateDir, rootfsDir string) (err error) {
	// Every blocking call takes a context: this one bounds the whole demo.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stateDir, err = filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	rootfs, err := filepath.EvalSymlinks(rootfsDir)
	if err == nil {
		rootfs, err = filepath.Abs(rootfs)
	}
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfsDir, err)
	}
	say("libcontainerd %s (ABI %d)", libcontainerd.Version(), libcontainerd.LibraryABIVersion())

	// A containerd of our own, under stateDir.
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(stateDir), libcontainerd.WithStartDaemon(true))
	if err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	defer func() {
		if cerr := remote.Cleanup(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("stop containerd: %w", cerr)
		}
		remote.Close()
	}()
	say("containerd is up, state in %s", stateDir)

	b := &backend{exits: make(chan libcontainerd.StateInfo, 16)}
	client, err := remote.Client(ctx, b)
	if err != nil {
		return fmt.Errorf("make a client: %w", err)
	}
	defer client.Close()

	// With a registry: pull an image from it and run a container from that image.
	if registry := os.Getenv("LCD_DEMO_REGISTRY"); registry != "" {
		image := os.Getenv("LCD_DEMO_IMAGE")
		if image == "" {
			image = "test/busybox:latest"
		}
		if err := pullAndRun(ctx, remote, client, b, registry+"/"+image, registry); err != nil {
			return err
		}
	}

	// A complete, safe spec from the library's defaults: busybox sh in a read-only
	// rootfs, in its own namespaces, with containerd's default capabilities.
	spec, err := libcontainerd.DefaultSpec(libcontainerd.SpecOptions{
		Rootfs:   rootfs,
		Readonly: true,
		Hostname: "demo",
		Args: []string{"sh", "-c", "echo hello from the container; i=0; while [ $i -lt 3 ]; do echo tick $i; " +
			"i=$((i+1)); sleep 1; done; sleep 30"},
	})
	if err != nil {
		return fmt.Errorf("default spec: %w", err)
	}
	if err := client.Create(ctx, container, *spec); err != nil {
		return fmt.Errorf("create %s: %w", container, err)
	}
	say("created and started container %s", container)
	time.Sleep(2 * time.Second)

	// Run ps inside it, with its output and exit code.
	result := func() error {
		p := libcontainerd.Process{Args: []string{"sh", "-c", "ps; echo exec says hi"}}
		if err := client.AddProcess(ctx, container, execID, p); err != nil {
			return fmt.Errorf("exec %s: %w", execID, err)
		}
		info, err := b.waitExit(execID)
		if err != nil {
			return err
		}
		say("exec %s exited with %d", execID, info.ExitCode)
		stats, err := client.Stats(ctx, container)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		js, _ := json.Marshal(stats)
		say("stats: %s", js)
		list, err := client.List(ctx)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		js, _ = json.Marshal(list)
		say("list: %s", js)
		return nil
	}()

	if err := client.Signal(ctx, container, int(syscall.SIGKILL)); err != nil {
		return fmt.Errorf("kill %s: %w", container, err)
	}
	info, err := b.waitExit(libcontainerd.InitProcessID)
	if err != nil {
		return err
	}
	say("container %s exited with %d", container, info.ExitCode)
	b.copiers.Wait()
	return result
}

// pullAndRun pulls ref from registry (plain HTTP) with the live progress line, then
// runs a container from it until it exits with 0.
func pullAndRun(ctx context.Context, remote *libcontainerd.Remote, client *libcontainerd.Client, b *backend, ref, registry string) error {
	say("pulling %s", ref)
	p := newProgress()
	img, err := remote.Pull(ctx, ref, libcontainerd.WithPlainHTTP(registry), libcontainerd.WithProgress(p.report))
	p.end()
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	js, _ := json.Marshal(img)
	say("pulled: %s", js)
	// The image's config fills the process: no args, no rootfs in the spec.
	spec, err := libcontainerd.DefaultSpec(libcontainerd.SpecOptions{Hostname: imageContainer})
	if err != nil {
		return fmt.Errorf("default spec: %w", err)
	}
	if err := client.Create(ctx, imageContainer, *spec, libcontainerd.WithImage(ref)); err != nil {
		return fmt.Errorf("create %s: %w", imageContainer, err)
	}
	say("created and started container %s from %s", imageContainer, ref)
	info, err := b.waitExit(libcontainerd.InitProcessID)
	if err != nil {
		return err
	}
	say("container %s exited with %d", imageContainer, info.ExitCode)
	if info.ExitCode != 0 {
		return fmt.Errorf("container %s exited with %d", imageContainer, info.ExitCode)
	}
	return nil
}
