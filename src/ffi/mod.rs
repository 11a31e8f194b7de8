//! The C ABI (`lcd_*`). The only `unsafe` code of the crate lives here.
