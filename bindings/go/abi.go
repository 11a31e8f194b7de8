package libcontainerd

/*
#include "libcontainerd.h"
*/
import "C"

import "fmt"

// ABIVersion is the version of the C ABI this package was built against
// (LCD_ABI_VERSION of libcontainerd.h).
const ABIVersion = C.LCD_ABI_VERSION

// abiErr is set at load time when the linked library speaks another ABI; New then
// refuses to run.
var abiErr = checkABI(uint32(C.lcd_abi_version()))

// checkABI compares the ABI version the loaded library reports with ABIVersion.
func checkABI(lib uint32) error {
	if lib != ABIVersion {
		return &Error{
			Code: CodeFailedPrecondition,
			Message: fmt.Sprintf("the loaded libcontainerd (version %s) has C ABI version %d, this package was built for %d",
				Version(), lib, ABIVersion),
		}
	}
	return nil
}

// Version returns the version of the loaded library, for example "0.1.0".
func Version() string {
	return C.GoString(C.lcd_version())
}

// LibraryABIVersion returns the C ABI version the loaded library reports; New fails
// unless it equals ABIVersion.
func LibraryABIVersion() uint32 {
	return uint32(C.lcd_abi_version())
}
