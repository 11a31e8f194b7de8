//! Restart policies and the moby backoff (pure logic; no I/O).
//!
//! Filled in by the restart-policy work; the types are fixed here because create
//! options carry them.

use serde::{Deserialize, Serialize};

/// A restart policy name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// Never restart.
    #[default]
    No,
    /// Always restart, unless stopped explicitly.
    Always,
    /// Restart on a non-zero exit, at most `maximum_retry_count` times (0: no limit).
    OnFailure,
    /// Like `always`, but not at restore when it had been stopped explicitly.
    UnlessStopped,
}

/// `restart_policy` of the create options (`WithRestartManager`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Which policy.
    pub name: PolicyName,
    /// Limit for `on-failure` (0: unlimited).
    #[serde(default)]
    pub maximum_retry_count: u32,
}
