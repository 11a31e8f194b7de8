//go:build !libcontainerd_static

package libcontainerd

// Dynamic linking (the default): against target/release/libcontainerd.so of the
// repository this module lives in, found at run time through an rpath, so programs
// run without LD_LIBRARY_PATH. Build with the tag libcontainerd_static to link the
// static archive instead.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lcontainerd -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
