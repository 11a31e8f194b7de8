package libcontainerd

/*
#include <stdlib.h>

#include "libcontainerd.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"
)

// Code is the class of an error: one of the library's stable lcd_code values.
type Code int32

// The error classes. Their values are those of lcd_code in libcontainerd.h and never
// change.
const (
	// CodeOK is success; no Error carries it.
	CodeOK Code = C.LCD_OK
	// CodeInvalidArgument: something malformed was passed (a bad id, bad JSON, an
	// unknown key, a string with a NUL byte).
	CodeInvalidArgument Code = C.LCD_INVALID_ARGUMENT
	// CodeNotFound: the container, process or file named does not exist.
	CodeNotFound Code = C.LCD_NOT_FOUND
	// CodeAlreadyExists: the id is already in use.
	CodeAlreadyExists Code = C.LCD_ALREADY_EXISTS
	// CodeFailedPrecondition: the object is not in a state that allows the call.
	CodeFailedPrecondition Code = C.LCD_FAILED_PRECONDITION
	// CodeUnavailable: containerd cannot be reached.
	CodeUnavailable Code = C.LCD_UNAVAILABLE
	// CodeDeadlineExceeded: a deadline passed before the call completed.
	CodeDeadlineExceeded Code = C.LCD_DEADLINE_EXCEEDED
	// CodeCancelled: the call was cancelled.
	CodeCancelled Code = C.LCD_CANCELLED
	// CodeIO: an operating-system I/O error.
	CodeIO Code = C.LCD_IO
	// CodeInternal: a bug or an unexpected condition, including a panic caught in a
	// callback or in the library.
	CodeInternal Code = C.LCD_INTERNAL
	// CodeUnsupported: the operation is not supported here.
	CodeUnsupported Code = C.LCD_UNSUPPORTED
	// CodePermissionDenied: credentials were refused (e.g. by an image registry).
	CodePermissionDenied Code = C.LCD_PERMISSION_DENIED
)

// String returns the code's upper-case name as the library spells it, for example
// "NOT_FOUND" ("UNKNOWN" for a value that is no code).
func (c Code) String() string {
	return C.GoString(C.lcd_code_name(C.int32_t(c)))
}

// Error is an error reported by the library (or by this binding, for arguments it
// cannot pass on): a code and a message. Test its class with errors.Is against the
// Err… sentinels, or take it apart with errors.As.
type Error struct {
	// Code is the error's class.
	Code Code
	// Message says what went wrong.
	Message string
	// cause is an underlying Go error (a context's), reachable through Unwrap.
	cause error
}

// Error formats the error as "libcontainerd: CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return "libcontainerd: " + e.Code.String()
	}
	return "libcontainerd: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error of the same code whose message is empty
// (one of the sentinels) or equal to e's. It makes errors.Is(err, ErrNotFound) work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Unwrap returns the Go error behind e, if any: context.DeadlineExceeded for a
// CodeDeadlineExceeded error, context.Canceled for a CodeCancelled one, so
// errors.Is(err, context.Canceled) and errors.Is(err, ErrCancelled) both hold.
func (e *Error) Unwrap() error { return e.cause }

// The sentinels: one per error class, for errors.Is.
var (
	// ErrInvalidArgument matches errors of class CodeInvalidArgument.
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	// ErrNotFound matches errors of class CodeNotFound.
	ErrNotFound = &Error{Code: CodeNotFound}
	// ErrAlreadyExists matches errors of class CodeAlreadyExists.
	ErrAlreadyExists = &Error{Code: CodeAlreadyExists}
	// ErrFailedPrecondition matches errors of class CodeFailedPrecondition.
	ErrFailedPrecondition = &Error{Code: CodeFailedPrecondition}
	// ErrUnavailable matches errors of class CodeUnavailable.
	ErrUnavailable = &Error{Code: CodeUnavailable}
	// ErrDeadlineExceeded matches errors of class CodeDeadlineExceeded.
	ErrDeadlineExceeded = &Error{Code: CodeDeadlineExceeded}
	// ErrCancelled matches errors of class CodeCancelled.
	ErrCancelled = &Error{Code: CodeCancelled}
	// ErrIO matches errors of class CodeIO.
	ErrIO = &Error{Code: CodeIO}
	// ErrInternal matches errors of class CodeInternal.
	ErrInternal = &Error{Code: CodeInternal}
	// ErrUnsupported matches errors of class CodeUnsupported.
	ErrUnsupported = &Error{Code: CodeUnsupported}
	// ErrPermissionDenied matches errors of class CodePermissionDenied.
	ErrPermissionDenied = &Error{Code: CodePermissionDenied}

	// ErrClosed is returned by calls on a Remote or Client after its Close. It is
	// of class CodeFailedPrecondition.
	ErrClosed = &Error{Code: CodeFailedPrecondition, Message: "use of a closed handle"}
)

// takeError turns a library error into an *Error and frees it; nil for success. A
// CodeDeadlineExceeded error unwraps to context.DeadlineExceeded and a CodeCancelled
// one to context.Canceled, so errors.Is finds the context's errors too.
func takeError(e *C.lcd_error) error {
	if e == nil {
		return nil
	}
	err := &Error{
		Code:    Code(C.lcd_error_code(e)),
		Message: C.GoString(C.lcd_error_message(e)),
	}
	C.lcd_error_free(e)
	switch err.Code {
	case CodeDeadlineExceeded:
		err.cause = context.DeadlineExceeded
	case CodeCancelled:
		err.cause = context.Canceled
	}
	return err
}

// invalidArgument makes a CodeInvalidArgument error.
func invalidArgument(format string, args ...interface{}) error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// contextError turns a done context's error into an *Error of class CodeCancelled or
// CodeDeadlineExceeded that unwraps to it.
func contextError(err error) error {
	code := CodeCancelled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return &Error{Code: code, Message: err.Error(), cause: err}
}

// newCError makes a library error from a Go error, for a callback to return: the code
// of an *Error inside err (CodeInternal otherwise) and err's text.
func newCError(err error) *C.lcd_error {
	code := CodeInternal
	var e *Error
	if errors.As(err, &e) && e.Code != CodeOK {
		code = e.Code
	}
	msg := C.CString(err.Error())
	defer C.free(unsafe.Pointer(msg))
	return C.lcd_error_new(C.int32_t(code), msg)
}
