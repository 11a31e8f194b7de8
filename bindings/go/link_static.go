//go:build libcontainerd_static

package libcontainerd

// Static linking (build tag libcontainerd_static): flags from
// `pkg-config --static libcontainerd`, whose Libs.private lists the system libraries
// the archive needs. The linker takes libcontainerd.a when the pkg-config directory's
// libdir holds no libcontainerd.so: install with `make install LIBRARY_TYPES=staticlib`
// (or, in a source checkout, use PKG_CONFIG_PATH=<checkout>/build/pkgconfig-static
// after `make dev-pkgconfig`). The program then does not need the shared library.

/*
#cgo pkg-config: --static libcontainerd
*/
import "C"
