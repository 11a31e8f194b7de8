package libcontainerd_test

// godoc example of deadlines and cancellation: every blocking call takes a context.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	libcontainerd "github.com/libcontainerd/libcontainerd/bindings/go"
)

// A create bounded by a deadline, and one whose context is cancelled: the library's
// call itself ends (a cancelled create leaves no container), and the error is both
// the package's ErrCancelled and the context's context.Canceled.
func ExampleClient_Create_context() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
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

	if err := client.Create(ctx, "ex-context", exampleSpec("true")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", w.waitFor(libcontainerd.StateExit).ExitCode)

	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow() // as another goroutine would, while the call runs
	err = client.Create(cancelled, "ex-context-2", exampleSpec("true"))
	fmt.Println(errors.Is(err, context.Canceled), errors.Is(err, libcontainerd.ErrCancelled))
	list, err := client.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range list {
		if c.ID == "ex-context-2" {
			fmt.Println("left behind:", c.ID)
		}
	}
	// Output:
	// exit code 0
	// true true
}
