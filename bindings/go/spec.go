// DefaultSpec: lcd_spec_default, a complete and safe OCI runtime spec.

package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import "encoding/json"

// SpecOptions adjust the spec DefaultSpec builds; the zero value keeps every default.
type SpecOptions struct {
	// Rootfs is Root.Path: an existing absolute host directory.
	Rootfs string `json:"rootfs,omitempty"`
	// Readonly makes the rootfs read-only.
	Readonly bool `json:"readonly,omitempty"`
	// Args are the init process's command and arguments (Create needs them).
	Args []string `json:"args,omitempty"`
	// Env entries (KEY=value) are added to the default PATH; later keys win.
	Env []string `json:"env,omitempty"`
	// Cwd is the working directory (absolute; default "/").
	Cwd string `json:"cwd,omitempty"`
	// User is "uid", "uid:gid", "name" or "name:group"; names are looked up in the
	// rootfs's /etc/passwd and /etc/group, which also give the supplementary groups
	// and HOME. Default root.
	User string `json:"user,omitempty"`
	// Hostname is the container's hostname.
	Hostname string `json:"hostname,omitempty"`
	// Terminal gives the init process a terminal (and TERM=xterm).
	Terminal bool `json:"terminal,omitempty"`
	// CgroupsPath is Linux.CgroupsPath (default: the library's /<namespace>/<id>).
	CgroupsPath string `json:"cgroups_path,omitempty"`
	// MemoryLimit is the memory limit in bytes (0: none).
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	// CPUShares is the relative CPU weight (0: the default).
	CPUShares uint64 `json:"cpu_shares,omitempty"`
	// PidsLimit is the maximum number of processes (0: none).
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// Privileged gives every capability, masks nothing, makes /sys writable and
	// allows every device.
	Privileged bool `json:"privileged,omitempty"`
}

// DefaultSpec returns a complete, safe OCI runtime spec as containerd's
// oci.GenerateSpec builds it: new pid, ipc, uts, mount and network namespaces,
// containerd's default capabilities (none ambient), NoNewPrivileges, RLIMIT_NOFILE
// 1024, /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only), the cgroup
// hierarchy (read-only) and /run, masked and read-only /proc paths, a device cgroup
// denying all but runc's default devices; then opts adjust it. Invalid options are
// ErrInvalidArgument.
func DefaultSpec(opts SpecOptions) (*Spec, error) {
	if abiErr != nil {
		return nil, abiErr
	}
	var cs cstrings
	defer cs.free()
	js := cs.json("spec options", &opts)
	if cs.err != nil {
		return nil, cs.err
	}
	var out *C.char
	if err := takeError(C.lcd_spec_default(js, &out)); err != nil {
		return nil, err
	}
	var spec Spec
	if err := json.Unmarshal([]byte(takeString(out)), &spec); err != nil {
		return nil, &Error{Code: CodeInternal, Message: "decoding the library's JSON: " + err.Error()}
	}
	return &spec, nil
}
