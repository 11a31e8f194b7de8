package libcontainerd

// Images: pull from a registry, import archives, list and remove (the C ABI's
// lcd_remote_image_*).

/*
#include <stdint.h>
#include <stdlib.h>

#include "libcontainerd.h"

lcd_error *lcd_go_remote_image_pull(lcd_remote *r, const char *ref, const char *options_json,
                                    uintptr_t handle, char **image_json, const lcd_call *call);
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime/cgo"
)

// Image describes an image in containerd's images service.
type Image struct {
	// Name is the normalised reference (docker.io/library/busybox:latest).
	Name string `json:"name"`
	// Digest is the digest of the image's index or manifest.
	Digest string `json:"digest"`
	// Size is the bytes of content the image refers to.
	Size uint64 `json:"size"`
	// Platform is os/architecture[/variant].
	Platform string `json:"platform"`
	// Created is when the image was built (RFC 3339).
	Created string `json:"created"`
	// Labels are the image record's labels.
	Labels map[string]string `json:"labels"`
	// Config holds the defaults for a container's process.
	Config ImageConfig `json:"config"`
}

// ImageConfig is the part of an image's config that fills a container's process.
type ImageConfig struct {
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	StopSignal string            `json:"stop_signal,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// PullProgress is one progress report of a pull.
type PullProgress struct {
	Ref     string `json:"ref"`
	Digest  string `json:"digest"`
	Status  string `json:"status"` // resolving, waiting, downloading, verifying, extracting, done, exists
	Current uint64 `json:"current"`
	Total   uint64 `json:"total"`
}

// PullOption configures Pull.
type PullOption func(*pullOptions)

type pullAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// pullOptions is the options JSON of lcd_remote_image_pull.
type pullOptions struct {
	Platform               *string   `json:"platform,omitempty"`
	Snapshotter            *string   `json:"snapshotter,omitempty"`
	Unpack                 *bool     `json:"unpack,omitempty"`
	PlainHTTP              []string  `json:"plain_http,omitempty"`
	CAFile                 *string   `json:"ca_file,omitempty"`
	Auth                   *pullAuth `json:"auth,omitempty"`
	MaxConcurrentDownloads *uint32   `json:"max_concurrent_downloads,omitempty"`
	LibraryDecompression   *bool     `json:"library_decompression,omitempty"`
	progress               func(PullProgress)
}

// WithPlatform pulls the manifest for os/arch[/variant] from an index (default: the host's).
func WithPlatform(platform string) PullOption { return func(o *pullOptions) { o.Platform = &platform } }

// WithPullSnapshotter unpacks into the named snapshotter (default overlayfs, or native
// where containerd has no overlayfs).
func WithPullSnapshotter(name string) PullOption {
	return func(o *pullOptions) { o.Snapshotter = &name }
}

// WithUnpack says whether the layers are unpacked after the pull (default true).
func WithUnpack(unpack bool) PullOption { return func(o *pullOptions) { o.Unpack = &unpack } }

// WithPlainHTTP reaches the given registry hosts (host[:port]) over plain HTTP.
func WithPlainHTTP(hosts ...string) PullOption {
	return func(o *pullOptions) { o.PlainHTTP = append(o.PlainHTTP, hosts...) }
}

// WithCAFile trusts the PEM bundle at path for the registry's TLS, besides the system roots.
func WithCAFile(path string) PullOption { return func(o *pullOptions) { o.CAFile = &path } }

// WithBasicAuth authenticates to the registry with a user name and password.
func WithBasicAuth(username, password string) PullOption {
	return func(o *pullOptions) { o.Auth = &pullAuth{Username: username, Password: password} }
}

// WithToken authenticates to the registry with a token.
func WithToken(token string) PullOption {
	return func(o *pullOptions) { o.Auth = &pullAuth{Token: token} }
}

// WithMaxConcurrentDownloads sets how many blobs are downloaded at once (default 3).
func WithMaxConcurrentDownloads(n uint32) PullOption {
	return func(o *pullOptions) { o.MaxConcurrentDownloads = &n }
}

// WithLibraryDecompression says whether gzip layers above the first are decompressed
// by the library as they download, so that containerd's applier only untars them
// (default true); false leaves decompression to containerd.
func WithLibraryDecompression(on bool) PullOption {
	return func(o *pullOptions) { o.LibraryDecompression = &on }
}

// WithProgress has f called with each progress report, in order, on one library
// thread; every call happens before Pull returns.
func WithProgress(f func(PullProgress)) PullOption { return func(o *pullOptions) { o.progress = f } }

//export lcdGoProgress
func lcdGoProgress(h C.uintptr_t, js *C.char) {
	f := cgo.Handle(h).Value().(func(PullProgress))
	var p PullProgress
	if json.Unmarshal([]byte(C.GoString(js)), &p) == nil {
		f(p)
	}
}

// Pull pulls image ref (a bare "busybox" means docker.io/library/busybox:latest)
// from its registry into containerd, and unpacks it unless WithUnpack(false).
// Errors: ErrNotFound (unknown image or tag), ErrUnavailable (registry unreachable),
// ErrPermissionDenied (credentials refused), ErrInvalidArgument (malformed
// reference), ErrIO (a blob with the wrong digest or size; nothing is registered),
// ErrCancelled or ErrDeadlineExceeded (and context.Canceled or
// context.DeadlineExceeded) within 100 ms of ctx's end: no image is registered,
// unless its final registration had already reached containerd (it is then
// complete); the content written is left to containerd's garbage collector.
func (r *Remote) Pull(ctx context.Context, ref string, opts ...PullOption) (*Image, error) {
	var o pullOptions
	for _, opt := range opts {
		opt(&o)
	}
	var cs cstrings
	defer cs.free()
	cref := cs.str("ref", ref)
	js := cs.json("pull options", &o)
	if cs.err != nil {
		return nil, cs.err
	}
	var h cgo.Handle
	if o.progress != nil {
		h = cgo.NewHandle(o.progress)
		defer h.Delete()
	}
	var out *C.char
	err := r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error {
		return C.lcd_go_remote_image_pull(p, cref, js, C.uintptr_t(h), &out, call)
	})
	if err != nil {
		return nil, err
	}
	var img Image
	if err := decodeOwned(out, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// ImportOption configures Import.
type ImportOption func(*importOptions)

type importOptions struct {
	Name *string `json:"name,omitempty"`
}

// WithImageName names the archive's single image ref.
func WithImageName(ref string) ImportOption { return func(o *importOptions) { o.Name = &ref } }

// Import registers the images of an OCI image layout archive (as skopeo's
// oci-archive: writes it) or a docker save archive, and returns them. A malformed or
// hostile archive is ErrInvalidArgument; nothing is written outside containerd. ctx
// bounds the call as it does Pull's.
func (r *Remote) Import(ctx context.Context, archivePath string, opts ...ImportOption) ([]Image, error) {
	var o importOptions
	for _, opt := range opts {
		opt(&o)
	}
	var cs cstrings
	defer cs.free()
	cpath := cs.str("archive path", archivePath)
	js := cs.json("import options", &o)
	if cs.err != nil {
		return nil, cs.err
	}
	var out *C.char
	err := r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error {
		return C.lcd_remote_image_import(p, cpath, js, &out, call)
	})
	if err != nil {
		return nil, err
	}
	var imgs []Image
	if err := decodeOwned(out, &imgs); err != nil {
		return nil, err
	}
	return imgs, nil
}

// Images lists the images of the remote's namespace, sorted by name. ctx bounds the
// call.
func (r *Remote) Images(ctx context.Context) ([]Image, error) {
	var out *C.char
	err := r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error {
		return C.lcd_remote_image_list(p, &out, call)
	})
	if err != nil {
		return nil, err
	}
	imgs := []Image{}
	if err := decodeOwned(out, &imgs); err != nil {
		return nil, err
	}
	return imgs, nil
}

// RemoveImage removes image ref; containerd's garbage collector reclaims the content
// nothing else refers to before it returns. Containers created from it keep running.
// ctx bounds the call; a cancelled RemoveImage may or may not have removed it.
func (r *Remote) RemoveImage(ctx context.Context, ref string) error {
	var cs cstrings
	defer cs.free()
	cref := cs.str("ref", ref)
	if cs.err != nil {
		return cs.err
	}
	return r.call(ctx, func(p *C.lcd_remote, call *C.lcd_call) *C.lcd_error {
		return C.lcd_remote_image_remove(p, cref, call)
	})
}

// decodeOwned decodes the library-owned JSON string s into v and frees s.
func decodeOwned(s *C.char, v interface{}) error {
	if err := json.Unmarshal([]byte(takeString(s)), v); err != nil {
		return &Error{Code: CodeInternal, Message: "decoding the library's JSON: " + err.Error()}
	}
	return nil
}
