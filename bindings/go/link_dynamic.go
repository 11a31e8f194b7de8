//go:build !libcontainerd_static

package libcontainerd

// Dynamic linking (the default): flags from `pkg-config libcontainerd`, as installed
// by `make install` (found under /usr/local, or wherever PKG_CONFIG_PATH points). The
// program then loads libcontainerd.so.2 through the dynamic linker's usual search; no
// rpath is added. To build inside a source checkout without installing, run
// `make dev-pkgconfig` there and set PKG_CONFIG_PATH=<checkout>/build/pkgconfig and
// LD_LIBRARY_PATH=<checkout>/target/release.

/*
#cgo pkg-config: libcontainerd
*/
import "C"
