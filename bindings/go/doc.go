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
//	ctx := context.Background()
//	remote, err := libcontainerd.New(ctx, libcontainerd.WithStateDir("/run/my-app"))
//	...
//	defer remote.Close()
//	client, err := remote.Client(ctx, myBackend)
//	...
//	defer client.Close()
//	err = client.Create(ctx, "web", spec) // spec: an OCI runtime spec (specs.Spec)
//
// Errors are *Error values carrying the library's code and message; test them with
// errors.Is against ErrNotFound, ErrAlreadyExists, ErrInvalidArgument and the other
// sentinels. Every method blocks until done and is safe for concurrent use, including
// from inside the Backend's methods.
//
// # Deadlines and cancellation
//
// Every method that can block (that waits for containerd, a registry or a daemon's
// start) takes a context.Context first. Its deadline becomes the library call's
// deadline, and cancelling it cancels the library's work itself, not just the wait
// for it: the call returns within 100 ms with an error that errors.Is matches against
// both ErrCancelled and context.Canceled (or ErrDeadlineExceeded and
// context.DeadlineExceeded), and each method's doc says what a cancelled call leaves
// behind (a cancelled Create leaves no container). A context already done fails the
// call before it reaches the library. UpdateOptions, DefaultSpec and the Close
// methods do not wait for containerd and take no context; Close may wait for a
// cleanup, which Remote.Cleanup(ctx) bounds when called first.
//
// Close every Remote and Client when done: finalizers close forgotten ones, but only
// as a backstop.
//
// # Output must be read
//
// A process writes into pipes: a Backend must read the Stdout and Stderr it gets in
// AttachStreams to their end, or the process blocks once a pipe's worth (64 KiB) is
// buffered and never exits. IOPipe.Discard throws one process's output away; a
// Backend wrapped in DiscardStreams gets no streams at all, and the library then
// discards every process's output itself.
//
// # The seed's names
//
// The package keeps the API of Docker's libcontainerd of v1.12 (the seed). Where a
// name or shape differs, the table says how the seed's item is spelled here; the
// seed's names marked "kept" work as they are. The seed's AddProcess took a
// context.Context first; here every blocking method does, as in Docker's later
// libcontainerd (17.10 on: Create(ctx, id, spec, …), SignalProcess(ctx, …),
// Pause(ctx, id), Stats(ctx, id), …) and containerd's Go client.
//
//	Seed (Docker 1.12 libcontainerd)              This package
//	New(stateDir, opts...) (Remote, error)        New(ctx, WithStateDir(stateDir), opts...) (*Remote, error)
//	Remote, Client (interfaces)                   *Remote, *Client (structs; Close() when done)
//	Remote.Client(b)                              Remote.Client(ctx, b)
//	Remote.Cleanup()                              Remote.Cleanup(ctx) error
//	Create(id, spec, opts...)                     Create(ctx, id, spec, opts...)
//	Signal(id, sig), SignalProcess(id, name, sig) Signal(ctx, id, sig), SignalProcess(ctx, id, processID, sig)
//	Resize(id, name, w, h)                        Resize(ctx, id, processID, w, h)
//	Pause(id), Resume(id)                         Pause(ctx, id), Resume(ctx, id)
//	Restore(id, opts...)                          Restore(ctx, id, opts...)
//	Stats(id), Summary(id)                        Stats(ctx, id), Summary(ctx, id)
//	GetPidsForContainer(id)                       GetPidsForContainer(ctx, id)
//	UpdateResources(id, Resources)                UpdateResources(ctx, id, Resources)
//	RemoteOption, CreateOption (Apply methods)    RemoteOption, CreateOption (functions)
//	InitFriendlyName                              InitProcessID (InitFriendlyName kept)
//	processFriendlyName (parameters)              processID
//	Backend.AttachStreams(name, io)               Backend.AttachStreams(containerID, processID, io)
//	StateInfo{CommonStateInfo, OOMKilled}         StateInfo{State, Pid, ExitCode, ProcessID, OOMKilled, ExitedAt}
//	StateStart, StateExit, … (untyped strings)    the same names, of type State
//	WithRestartManager(restartmanager.New(p, n))  WithRestartManager(NewRestartManager(p, n)) (kept), or WithRestartPolicy(p)
//	container.RestartPolicy                       RestartPolicy
//	IOPipe.Stdout, IOPipe.Stderr (io.Reader)      io.ReadCloser (*os.File)
//	Stats (containerd.StatsResponse)              Stats (typed cgroup figures)
//	Summary (struct{})                            Summary{Pid, ProcessID}
//	Resources (containerd.UpdateResource)         Resources (specs.LinuxResources)
//	User (specs.User)                             User{UID, GID, AdditionalGids}
//	Spec (specs.Spec)                             Spec (specs.Spec, runtime-spec v1.3.0)
//	AddProcess(ctx, id, name, Process)            AddProcess(ctx, id, processID, Process) (kept)
//	(none)                                        Client.List(ctx), Container, ProcessStatus
//	(none)                                        Client.Stop(ctx, id, sig, timeout), Client.UpdateRestartPolicy(ctx, id, p)
//
// The remote options (WithRemoteAddr, WithRuntimePath, WithRuntimeArgs,
// WithStartDaemon, WithDebugLog, WithLiveRestore, WithOOMScore) and WithRuntime keep
// the seed's names and arguments.
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
