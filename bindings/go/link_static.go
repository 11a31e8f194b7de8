//go:build libcontainerd_static

package libcontainerd

// Static linking (build tag libcontainerd_static): target/release/libcontainerd.a
// goes into the program, together with the system libraries that
// `cargo rustc --release --lib -- --print native-static-libs` lists.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libcontainerd.a -lssl -lcrypto -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
*/
import "C"
