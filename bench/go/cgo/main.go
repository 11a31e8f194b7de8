// Command cgo measures the cost of a cheap call into the library's C ABI from Go
// through cgo (lcd_version, and lcd_client_list on an empty namespace), calling
// include/libcontainerd.h directly. It prints one JSON object on stdout.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../target/release -lcontainerd -Wl,-rpath,${SRCDIR}/../../../target/release
#include <stdlib.h>
#include <libcontainerd.h>
*/
import "C"

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"
	"unsafe"
)

func main() {
	socket := flag.String("socket", "", "containerd socket")
	stateDir := flag.String("state-dir", "", "library state dir")
	ns := flag.String("namespace", "lcdbench-empty", "an empty namespace")
	iters := flag.Int("iters", 2000, "list calls per batch (lcd_version: 100 times more)")
	flag.Parse()

	opts, _ := json.Marshal(map[string]any{"remote_addr": *socket, "start_daemon": false, "state_dir": *stateDir, "namespace": *ns})
	copts := C.CString(string(opts))
	defer C.free(unsafe.Pointer(copts))
	var remote *C.lcd_remote
	check(C.lcd_remote_new(copts, &remote, nil), "remote")
	defer C.lcd_remote_free(remote)
	backend := C.lcd_backend{struct_size: C.uint32_t(unsafe.Sizeof(C.lcd_backend{}))}
	var client *C.lcd_client
	check(C.lcd_remote_client(remote, &backend, &client, nil), "client")
	defer C.lcd_client_free(client)

	median := func(n int, f func()) float64 {
		var v []float64
		for r := 0; r < 7; r++ {
			t0 := time.Now()
			for i := 0; i < n; i++ {
				f()
			}
			v = append(v, float64(time.Since(t0).Nanoseconds())/float64(n))
		}
		sort.Float64s(v)
		return v[3]
	}
	var sink *C.char
	version := median(*iters*100, func() { sink = C.lcd_version() })
	_ = sink
	list := median(*iters, func() {
		var out *C.char
		check(C.lcd_client_list(client, &out, nil), "list")
		if C.GoString(out) != "[]" {
			fmt.Fprintln(os.Stderr, "namespace not empty: "+C.GoString(out))
			os.Exit(1)
		}
		C.lcd_string_free(out)
	})
	json.NewEncoder(os.Stdout).Encode(map[string]float64{"version_ns": version, "list_ns": list})
}

func check(e *C.lcd_error, what string) {
	if e == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", what, C.GoString(C.lcd_error_message(e)))
	C.lcd_error_free(e)
	os.Exit(1)
}
