//! The C ABI (`lcd_*`). The only `unsafe` code of the crate lives here.
//!
//! One module per C type, plus the plumbing every export goes through:
//!
//! - [`util`] has the panic boundary ([`util::guard`]), NULL checks, borrowed C
//!   strings in and library-owned strings out;
//! - [`error`] has `lcd_error`, `lcd_code`, `lcd_string_free` and the version calls;
//! - [`backend`] has the `lcd_backend` callback table and its adapter to [`crate::Backend`];
//! - [`remote`] has `lcd_remote_*`;
//! - [`client`] has `lcd_client_*`;
//! - [`image`] has `lcd_remote_image_*`;
//! - [`spec`] has `lcd_spec_default`;
//! - [`log`] has `lcd_log_set_callback`;
//! - [`call`] has `lcd_call`, the deadline and cancellation of blocking calls.
//!
//! Conventions (the design's C ABI section): every fallible export returns `lcd_error *`, NULL on
//! success; out-parameters come last and are written only on success; every argument
//! is checked (NULL, UTF-8, ids, JSON) before a handle is used or anything happens; no
//! panic crosses the boundary. `include/libcontainerd.h` is generated from this module
//! by cbindgen (`LCD_UPDATE_HEADER=1 cargo test --test header`).

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types)]
// The safety contract of every export is its C contract, stated in its doc and in the
// header's preamble: pointers are NULL or valid for the documented use, handles are
// live, strings are NUL-terminated.
#![allow(clippy::missing_safety_doc)]

// The header lists the modules' items in this order.
pub mod error;
pub mod util;

pub mod backend;

pub mod remote;

pub mod client;

pub mod image;

pub mod spec;

pub mod log;

pub mod call;

pub use backend::{lcd_backend, lcd_io_pipe, lcd_state_info};
pub use call::lcd_call;
pub use client::lcd_client;
pub use error::{lcd_code, lcd_error};
pub use log::lcd_log_fn;
pub use remote::lcd_remote;

/// Version of the C ABI this header describes. Compare it with `lcd_abi_version()` at
/// load time and refuse a library that reports another value.
pub const LCD_ABI_VERSION: u32 = 2;
const _: () = assert!(LCD_ABI_VERSION == crate::ABI_VERSION);

// The values of `lcd_state_info.state`. cbindgen cannot export string constants, so
// the header's `#define LCD_STATE_*` come from cbindgen.toml; tests/header.rs checks
// that they match these and `State::as_str`.

/// `lcd_state_info.state`: the container's init process started (a new run).
pub const LCD_STATE_START_CONTAINER: &str = "start-container";
/// `lcd_state_info.state`: the container was frozen.
pub const LCD_STATE_PAUSE: &str = "pause";
/// `lcd_state_info.state`: the container was thawed.
pub const LCD_STATE_RESUME: &str = "resume";
/// `lcd_state_info.state`: the container's init process exited; the id is free again.
pub const LCD_STATE_EXIT: &str = "exit";
/// `lcd_state_info.state`: the container exited and its restart policy restarts it.
pub const LCD_STATE_RESTART: &str = "restart";
/// `lcd_state_info.state`: a running container was re-adopted by `lcd_client_restore`.
pub const LCD_STATE_RESTORE: &str = "restore";
/// `lcd_state_info.state`: an exec process started.
pub const LCD_STATE_START_PROCESS: &str = "start-process";
/// `lcd_state_info.state`: an exec process exited.
pub const LCD_STATE_EXIT_PROCESS: &str = "exit-process";
/// `lcd_state_info.state`: a process in the container was killed by the OOM killer.
pub const LCD_STATE_OOM: &str = "oom";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    #[test]
    fn state_constants_match_the_wire_names() {
        let pairs = [
            (State::StartContainer, LCD_STATE_START_CONTAINER),
            (State::Pause, LCD_STATE_PAUSE),
            (State::Resume, LCD_STATE_RESUME),
            (State::Exit, LCD_STATE_EXIT),
            (State::Restart, LCD_STATE_RESTART),
            (State::Restore, LCD_STATE_RESTORE),
            (State::StartProcess, LCD_STATE_START_PROCESS),
            (State::ExitProcess, LCD_STATE_EXIT_PROCESS),
            (State::Oom, LCD_STATE_OOM),
        ];
        for (state, name) in pairs {
            assert_eq!(state.as_str(), name);
            assert_eq!(backend::state_c_str(state).to_str().unwrap(), name);
        }
    }
}
