//! Images in containerd's content store and images service, and the snapshots
//! containers run on: resolving an image to its config, unpacking its layers, and a
//! copy-on-write rootfs per container.

pub mod config;
pub mod lease;
pub mod rootfs;
pub mod unpack;
pub mod users;

pub use unpack::{unpack_image, ProgressEvent, DEFAULT_SNAPSHOTTER};
