package libcontainerd_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// printer is a Backend that collects a container's output and reports its exit.
type printer struct {
	output chan string
	exited chan uint32
}

// StateChanged is called for every change of state, in order, once each.
func (p *printer) StateChanged(containerID string, info libcontainerd.StateInfo) error {
	if info.State == libcontainerd.StateExit {
		p.exited <- info.ExitCode
	}
	return nil
}

// AttachStreams receives the process's stdio before it starts.
func (p *printer) AttachStreams(containerID, processID string, pipe libcontainerd.IOPipe) error {
	pipe.Stdin.Close() // the process reads EOF
	go func() {
		defer pipe.Stderr.Close()
		io.Copy(io.Discard, pipe.Stderr)
	}()
	go func() {
		defer pipe.Stdout.Close()
		b, _ := io.ReadAll(pipe.Stdout)
		p.output <- string(b)
	}()
	return nil
}

// Runs `echo hello` in a container, on a containerd that the library starts for the
// occasion in a state directory of its own.
func Example() {
	ctx := context.Background()
	stateDir, err := os.MkdirTemp(os.Getenv("LCD_TEST_TMPDIR"), "ex-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(stateDir)
	// A directory holding a root filesystem with /bin/echo (the tests' busybox one).
	rootfs := os.Getenv("LCD_TEST_ROOTFS")

	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(stateDir))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close() // the last reference stops the daemon it started

	p := &printer{output: make(chan string, 1), exited: make(chan uint32, 1)}
	client, err := remote.Client(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	spec := libcontainerd.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: []string{"/bin/echo", "hello"}, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
		}},
	}
	if err := client.Create(ctx, "hello", spec); err != nil {
		log.Fatal(err)
	}
	fmt.Print(<-p.output)
	fmt.Println("exit code", <-p.exited)
	// Output:
	// hello
	// exit code 0
}
