// Package libcontainerd manages containers on a real containerd daemon through the
// libcontainerd C library, with the API of Docker's libcontainerd package.
//
// A Remote is the access point to containerd: by default the library starts,
// health-checks and restarts a containerd of its own under a state directory
// (WithStateDir), or it connects to an existing socket (WithRemoteAddr). A Client,
// made with Remote.Client for one Backend, creates and drives containers; the
// Backend learns of every change of state through StateChanged (StateStart,
// StateExit, StatePause, StateOOM, …; each container's events in order and exactly
// once) and receives every process's stdio through AttachStreams before the process
// starts, so no output is lost.
//
//	remote, err := libcontainerd.New(libcontainerd.WithStateDir("/run/my-app"))
//	...
//	defer remote.Close()
//	client, err := remote.Client(myBackend)
//	...
//	defer client.Close()
//	err = client.Create("web", spec) // spec: an OCI runtime spec (specs.Spec)
//
// Errors are *Error values carrying the library's code and message; test them with
// errors.Is against ErrNotFound, ErrAlreadyExists, ErrInvalidArgument and the other
// sentinels. Every method blocks until done and is safe for concurrent use, including
// from inside the Backend's methods.
//
// Close every Remote and Client when done: finalizers close forgotten ones, but only
// as a backstop.
//
// # Linking
//
// By default the package links dynamically against target/release/libcontainerd.so
// of the repository it lives in (build that with cargo build --release), with an
// rpath so that programs find it at run time. Build with -tags libcontainerd_static
// to link target/release/libcontainerd.a into the program instead. At load the
// package compares the library's C ABI version with the one it was built for; New
// fails on a mismatch.
package libcontainerd
