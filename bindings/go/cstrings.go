package libcontainerd

/*
#include <stdlib.h>

#include "libcontainerd.h"
*/
import "C"

import (
	"encoding/json"
	"strings"
	"unsafe"
)

// cstrings makes the C strings of one call and frees them together. The first
// string it cannot make (one with a NUL byte, a value JSON cannot encode) sets err.
type cstrings struct {
	ptrs []*C.char
	err  error
}

// str copies s into C memory; name says which argument it is, for the error.
func (cs *cstrings) str(name, s string) *C.char {
	if strings.IndexByte(s, 0) >= 0 {
		if cs.err == nil {
			cs.err = invalidArgument("%s %q contains a NUL byte", name, s)
		}
		return nil
	}
	p := C.CString(s)
	cs.ptrs = append(cs.ptrs, p)
	return p
}

// json encodes v as JSON in C memory.
func (cs *cstrings) json(name string, v interface{}) *C.char {
	b, err := json.Marshal(v)
	if err != nil {
		if cs.err == nil {
			cs.err = invalidArgument("%s: %v", name, err)
		}
		return nil
	}
	return cs.str(name, string(b))
}

// free releases every string made.
func (cs *cstrings) free() {
	for _, p := range cs.ptrs {
		C.free(unsafe.Pointer(p))
	}
	cs.ptrs = nil
}

// takeString copies a string the library returned and frees it.
func takeString(s *C.char) string {
	defer C.lcd_string_free(s)
	return C.GoString(s)
}
