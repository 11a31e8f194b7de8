package libcontainerd

import (
	"io"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// State is a change of state a Backend is told about: one of the State… constants
// (the C library's LCD_STATE_* strings; a newer library may add others).
type State string

// String returns the state's name as the library spells it, e.g. "start-container".
func (s State) String() string { return string(s) }

// The values of StateInfo.State.
const (
	// StateStart: the container's init process started (a new run).
	StateStart State = "start-container"
	// StatePause: the container was frozen.
	StatePause State = "pause"
	// StateResume: the container was thawed.
	StateResume State = "resume"
	// StateExit: the container's init process exited; the id is free again.
	StateExit State = "exit"
	// StateRestart: the container exited and its restart policy restarts it.
	StateRestart State = "restart"
	// StateRestore: a running container was re-adopted by Client.Restore.
	StateRestore State = "restore"
	// StateStartProcess: an exec process (AddProcess) started.
	StateStartProcess State = "start-process"
	// StateExitProcess: an exec process exited.
	StateExitProcess State = "exit-process"
	// StateOOM: a process in the container was killed by the OOM killer (a notice:
	// the container may keep running).
	StateOOM State = "oom"
)

// InitProcessID is the process id of a container's first process.
const InitProcessID = "init"

// StateInfo describes a change of state, as Backend.StateChanged receives it.
type StateInfo struct {
	// State is one of the State… constants.
	State State
	// Pid is the host pid of the process concerned (0 when unknown).
	Pid uint32
	// ExitCode is the exit code (exits only).
	ExitCode uint32
	// ProcessID is InitProcessID for the container's first process, else the id
	// the exec was given in AddProcess.
	ProcessID string
	// OOMKilled tells whether the OOM killer struck during this run (exits only).
	OOMKilled bool
	// ExitedAt is when the process exited; the zero time unless an exit.
	ExitedAt time.Time
}

// Backend is what the host program implements to learn about its containers. Its
// methods are called concurrently from several threads, so they must be safe for
// concurrent use; they may call back into the Client. A panic in either method is
// recovered and returned to the library as an error of class CodeInternal.
type Backend interface {
	// StateChanged reports a change of state of a container or one of its
	// processes. It runs on a thread the library owns; the events of one container
	// arrive in order, each exactly once, StateStart first. A returned error is
	// ignored by the library.
	StateChanged(containerID string, info StateInfo) error
	// AttachStreams hands over the stdio of a process before it starts (inside
	// Create, AddProcess and Restore, on the calling goroutine; on a library thread
	// when a restart policy restarts the container). The files in io belong to the
	// callee, which closes each when done. An error fails the call that starts the
	// process, and the binding then closes the files.
	//
	// The callee must keep reading Stdout and Stderr to their end (or call
	// io.Discard): a process whose output nobody reads blocks once a pipe's worth
	// (64 KiB) is buffered, and never exits. A Backend that wants no output at all is
	// wrapped in DiscardStreams, and then the library discards it.
	AttachStreams(containerID, processID string, io IOPipe) error
}

// IOPipe is a process's stdio. Every stream is an *os.File. Stdout and Stderr must be
// read to their end (or handed to Discard): output nobody reads blocks the process.
type IOPipe struct {
	// Stdin writes to the process's stdin; closing it delivers EOF to the process.
	Stdin io.WriteCloser
	// Stdout reads the process's stdout (with a terminal, the terminal's output).
	Stdout io.ReadCloser
	// Stderr reads the process's stderr; with a terminal it is at end of file at
	// once (stderr goes to the terminal).
	Stderr io.ReadCloser
	// Terminal tells whether the process has a terminal.
	Terminal bool
}

// Spec is a container's configuration: the OCI runtime spec, whose Root.Path is an
// absolute host directory holding the root filesystem.
type Spec = specs.Spec

// Resources are the resources UpdateResources applies to a running container.
type Resources = specs.LinuxResources

// Rlimit is one resource limit of a Process.
type Rlimit = specs.POSIXRlimit

// User is the user and groups a Process runs as.
type User struct {
	// UID is the user id.
	UID uint32 `json:"uid"`
	// GID is the group id.
	GID uint32 `json:"gid"`
	// AdditionalGids are supplementary group ids.
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
}

// Process is what AddProcess runs inside a container. Args is required; the fields
// left unset (nil) are taken from the container's own process.
type Process struct {
	// Terminal allocates a terminal for the process.
	Terminal bool `json:"terminal"`
	// User is the user and groups to run as.
	User *User `json:"user,omitempty"`
	// Args are the command and its arguments.
	Args []string `json:"args"`
	// Env is the environment, KEY=value each.
	Env []string `json:"env,omitempty"`
	// Cwd is the working directory (absolute).
	Cwd *string `json:"cwd,omitempty"`
	// Capabilities (CAP_…) fill the bounding, effective and permitted sets. A non-root
	// user loses them at execve unless they are also in AmbientCapabilities.
	Capabilities []string `json:"capabilities,omitempty"`
	// AmbientCapabilities (CAP_…, each permitted) are also kept across execve by a
	// non-root user. None by default.
	AmbientCapabilities []string `json:"ambientCapabilities,omitempty"`
	// ConsoleSize is the terminal's initial size (with Terminal).
	ConsoleSize *specs.Box `json:"consoleSize,omitempty"`
	// Rlimits are resource limits.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// ApparmorProfile is the AppArmor profile.
	ApparmorProfile *string `json:"apparmorProfile,omitempty"`
	// SelinuxLabel is the SELinux label.
	SelinuxLabel *string `json:"selinuxLabel,omitempty"`
}

// Summary describes one process of a container.
type Summary struct {
	// Pid is the host pid.
	Pid uint32 `json:"pid"`
	// ProcessID is InitProcessID, an exec's id, or empty for a process the library
	// did not start.
	ProcessID string `json:"process_id"`
}

// The values of Container.Status and ProcessStatus.Status.
const (
	// StatusCreated: created, not started.
	StatusCreated = "created"
	// StatusRunning: running.
	StatusRunning = "running"
	// StatusPaused: frozen.
	StatusPaused = "paused"
	// StatusStopped: exited, not yet reaped.
	StatusStopped = "stopped"
)

// Container is one entry of List.
type Container struct {
	// ID is the container's id.
	ID string `json:"id"`
	// Pid is the host pid of its init process.
	Pid uint32 `json:"pid"`
	// Status is one of the Status… constants.
	Status string `json:"status"`
	// Processes are its exec processes.
	Processes []ProcessStatus `json:"processes"`
}

// ProcessStatus is one exec process of a Container.
type ProcessStatus struct {
	// ProcessID is the id given to AddProcess.
	ProcessID string `json:"process_id"`
	// Pid is its host pid.
	Pid uint32 `json:"pid"`
	// Status is one of the Status… constants.
	Status string `json:"status"`
}

// The names of restart policies.
const (
	// RestartPolicyNo never restarts.
	RestartPolicyNo = "no"
	// RestartPolicyAlways restarts after every exit but an explicit stop.
	RestartPolicyAlways = "always"
	// RestartPolicyOnFailure restarts after a non-zero exit, at most
	// MaximumRetryCount times (0: no limit).
	RestartPolicyOnFailure = "on-failure"
	// RestartPolicyUnlessStopped is like always, except at Restore of a container
	// that had been stopped explicitly.
	RestartPolicyUnlessStopped = "unless-stopped"
)

// RestartPolicy says what happens when a container's init process exits. Restarts
// back off from 100 ms, doubling up to 1 min, reset after 10 s of running; an
// explicit stop (Signal with SIGTERM or SIGKILL) cancels them.
type RestartPolicy struct {
	// Name is one of the RestartPolicy… constants.
	Name string `json:"name"`
	// MaximumRetryCount bounds the restarts of RestartPolicyOnFailure.
	MaximumRetryCount int `json:"maximum_retry_count,omitempty"`
}

// CreateOption changes how Create and Restore run a container.
type CreateOption func(*createOptions)

type runtimeOption struct {
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
}

type createOptions struct {
	Runtime       *runtimeOption `json:"runtime,omitempty"`
	RestartPolicy *RestartPolicy `json:"restart_policy,omitempty"`
	Image         string         `json:"image,omitempty"`
	Snapshotter   string         `json:"snapshotter,omitempty"`
}

// WithRuntime runs the container with the runc-compatible binary at path instead of
// the remote's runtime, with args as global arguments placed before its subcommand.
func WithRuntime(path string, args []string) CreateOption {
	return func(o *createOptions) {
		o.Runtime = &runtimeOption{Path: path, Args: args}
	}
}

// WithImage runs the container on a writable snapshot of image ref (pulled or
// imported before; ErrNotFound if it is not there), removed with the container. The
// spec's Root.Path is then ignored (Root.Readonly is honoured) and the image config
// supplies what the spec's process leaves out: with Spec.Process nil, the whole
// process (args = entrypoint + cmd, env, cwd, user); otherwise empty Args and Cwd,
// and Env merged with the spec's keys winning.
func WithImage(ref string) CreateOption {
	return func(o *createOptions) {
		o.Image = ref
	}
}

// WithSnapshotter names the snapshotter of WithImage's rootfs (default "overlayfs",
// or "native" where containerd has no overlayfs).
func WithSnapshotter(name string) CreateOption {
	return func(o *createOptions) {
		o.Snapshotter = name
	}
}

// WithRestartPolicy gives the container a restart policy.
func WithRestartPolicy(policy RestartPolicy) CreateOption {
	return func(o *createOptions) {
		p := policy
		o.RestartPolicy = &p
	}
}
