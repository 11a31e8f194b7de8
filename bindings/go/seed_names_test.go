package libcontainerd_test

// A program written against the seed's names (Docker 1.12's libcontainerd):
// InitFriendlyName, WithRestartManager with a restart manager, the State constants
// compared with StateInfo.State, and AttachStreams taking process friendly names.

import (
	"context"
	"fmt"
	"io"
	"log"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
)

// seedBackend is a Backend as a seed program writes it.
type seedBackend struct {
	states chan libcontainerd.StateInfo
}

func (b *seedBackend) StateChanged(containerID string, state libcontainerd.StateInfo) error {
	b.states <- state
	return nil
}

func (b *seedBackend) AttachStreams(containerID, processFriendlyName string, iop libcontainerd.IOPipe) error {
	iop.Stdin.Close()
	go io.Copy(io.Discard, iop.Stdout)
	go io.Copy(io.Discard, iop.Stderr)
	return nil
}

// A container restarted by the seed's restart manager: an on-failure policy with 3
// retries for a container that already had 2 restarts leaves it one.
func Example_seedNames() {
	ctx := context.Background()
	var remote *libcontainerd.Remote
	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir(exampleStateDir()), libcontainerd.WithLiveRestore(false))
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	b := &seedBackend{states: make(chan libcontainerd.StateInfo, 16)}
	var client *libcontainerd.Client
	client, err = remote.Client(ctx, b)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	policy := libcontainerd.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}
	rm := libcontainerd.NewRestartManager(policy, 2)
	if err := client.Create(ctx, "ex-seed", exampleSpec("sh", "-c", "exit 3"), libcontainerd.WithRestartManager(rm)); err != nil {
		log.Fatal(err)
	}
	for {
		var state libcontainerd.StateInfo = <-b.states
		var s string = string(state.State)
		switch state.State {
		case libcontainerd.StateStart, libcontainerd.StateRestart:
			fmt.Println(s, state.ProcessID == libcontainerd.InitFriendlyName)
		case libcontainerd.StateExit:
			fmt.Println(s, state.ExitCode)
			return
		}
	}
	// Output:
	// start-container true
	// restart true
	// start-container true
	// exit 3
}
