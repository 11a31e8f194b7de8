//! Restart policies and the moby backoff (pure logic; no I/O).
//!
//! [`RestartPolicy`] is the `restart_policy` of the create and restore options.
//! [`RestartManager`] is moby's `restartmanager` without its timer and channel: it
//! answers "restart, after this delay?" and the caller does the waiting (and asks
//! again after the wait whether the restart was cancelled meanwhile).
//! [`should_restart_on_restore`] is the decision for a container that exited while the
//! host program was down.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The first backoff delay (moby's `defaultTimeout`).
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The backoff never exceeds this (moby's `maxRestartTimeout`).
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff to [`INITIAL_DELAY`].
pub const RESET_AFTER: Duration = Duration::from_secs(10);
/// Factor applied to the delay at each further restart (moby's `backoffMultiplier`).
const BACKOFF_MULTIPLIER: u32 = 2;

/// A restart policy name; in JSON exactly `"no"`, `"always"`, `"on-failure"` or
/// `"unless-stopped"`.
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

impl PolicyName {
    /// The name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::No => "no",
            PolicyName::Always => "always",
            PolicyName::OnFailure => "on-failure",
            PolicyName::UnlessStopped => "unless-stopped",
        }
    }
}

/// `restart_policy` of the create options (`WithRestartManager`), e.g.
/// `{"name": "on-failure", "maximum_retry_count": 2}`. `name` is required,
/// `maximum_retry_count` defaults to 0, and other keys are rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Which policy.
    pub name: PolicyName,
    /// Limit for `on-failure` (0: unlimited).
    #[serde(default)]
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// moby's API check: a maximum retry count only goes with `on-failure`
    /// (INVALID_ARGUMENT otherwise).
    pub fn validate(&self) -> Result<()> {
        if self.maximum_retry_count != 0 && self.name != PolicyName::OnFailure {
            return Err(Error::invalid(format!(
                "restart_policy: maximum_retry_count is only allowed with \"on-failure\", not \"{}\"",
                self.name.as_str()
            )));
        }
        Ok(())
    }

    /// Whether the count still allows an `on-failure` restart (0: no limit).
    fn under_retry_limit(&self, restart_count: u32) -> bool {
        self.maximum_retry_count == 0 || restart_count < self.maximum_retry_count
    }
}

/// The restart decision and backoff of one container (moby's `RestartManager`).
///
/// Each run's exit goes through [`should_restart`](Self::should_restart); a `Some`
/// answer is the delay to wait before starting the next run. [`cancel`](Self::cancel)
/// (an explicit stop) ends restarts for good; the caller should check
/// [`is_cancelled`](Self::is_cancelled) after its wait, since a cancel may arrive during
/// it. An explicit start builds a fresh manager (count 0, backoff reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartManager {
    policy: RestartPolicy,
    restart_count: u32,
    /// The last delay handed out; zero before the first one and after a reset.
    timeout: Duration,
    cancelled: bool,
}

impl RestartManager {
    /// A manager for `policy` that has already restarted the container
    /// `restart_count` times (the persisted count; 0 for a new container).
    pub fn new(policy: RestartPolicy, restart_count: u32) -> Self {
        RestartManager { policy, restart_count, timeout: Duration::ZERO, cancelled: false }
    }

    /// Decides about the exit of a run that lasted `execution`: `Some(delay)` to
    /// restart after `delay`, `None` to let the container stop.
    ///
    /// In moby's order: policy `no` answers `None` first; a cancelled manager answers
    /// `None`; then the backoff advances (also when the answer turns out to be `None`):
    /// 100 ms for the first restart or after a run of at least 10 s, otherwise twice
    /// the previous delay, at most 1 minute. `always` and `unless-stopped` restart;
    /// `on-failure` restarts on a non-zero `exit_code` while the count is under
    /// `maximum_retry_count` (when that is non-zero). A manual stop never restarts,
    /// under any policy. Each restart increments the count.
    pub fn should_restart(&mut self, exit_code: u32, manually_stopped: bool, execution: Duration) -> Option<Duration> {
        if self.policy.name == PolicyName::No || self.cancelled {
            return None;
        }

        if execution >= RESET_AFTER {
            self.timeout = Duration::ZERO;
        }
        if self.timeout.is_zero() {
            self.timeout = INITIAL_DELAY;
        } else if self.timeout < MAX_DELAY {
            self.timeout *= BACKOFF_MULTIPLIER;
        }
        self.timeout = self.timeout.min(MAX_DELAY);

        let restart = !manually_stopped
            && match self.policy.name {
                PolicyName::No => false,
                PolicyName::Always | PolicyName::UnlessStopped => true,
                PolicyName::OnFailure => exit_code != 0 && self.policy.under_retry_limit(self.restart_count),
            };
        if !restart {
            return None;
        }
        self.restart_count = self.restart_count.saturating_add(1);
        Some(self.timeout)
    }

    /// Replaces the policy (moby's `SetPolicy`); the restart count and the backoff
    /// carry on, and a cancelled manager stays cancelled.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// No more restarts, ever, from this manager (an explicit stop).
    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// Restarts so far, including the count the manager was created with.
    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// The policy.
    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }
}

/// Whether a container that exited while the host program was down is restarted at
/// `restore` (DESIGN.md §5): `always` yes (even after an explicit stop);
/// `unless-stopped` unless it had been stopped explicitly; `on-failure` when
/// `exit_code` is non-zero and `restart_count` is under the maximum (0: no limit),
/// as moby decides at daemon start-up; `no` never.
pub fn should_restart_on_restore(policy: &RestartPolicy, exit_code: u32, manually_stopped: bool, restart_count: u32) -> bool {
    match policy.name {
        PolicyName::No => false,
        PolicyName::Always => true,
        PolicyName::UnlessStopped => !manually_stopped,
        PolicyName::OnFailure => exit_code != 0 && policy.under_retry_limit(restart_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    fn policy(name: PolicyName, max: u32) -> RestartPolicy {
        RestartPolicy { name, maximum_retry_count: max }
    }

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    #[test]
    fn policy_json_round_trips() {
        let p: RestartPolicy = serde_json::from_str(r#"{"name": "on-failure", "maximum_retry_count": 2}"#).unwrap();
        assert_eq!(p, policy(PolicyName::OnFailure, 2));
        assert_eq!(serde_json::to_value(&p).unwrap(), serde_json::json!({"name": "on-failure", "maximum_retry_count": 2}));
        for (s, n) in [
            ("no", PolicyName::No),
            ("always", PolicyName::Always),
            ("on-failure", PolicyName::OnFailure),
            ("unless-stopped", PolicyName::UnlessStopped),
        ] {
            let p: RestartPolicy = serde_json::from_value(serde_json::json!({"name": s})).unwrap();
            assert_eq!(p, policy(n, 0));
            assert_eq!(n.as_str(), s);
            assert_eq!(serde_json::to_value(n).unwrap(), serde_json::json!(s));
        }
        assert_eq!(RestartPolicy::default(), policy(PolicyName::No, 0));
    }

    #[test]
    fn policy_json_rejects_unknown_names_and_keys() {
        for bad in [
            r#"{"name": ""}"#,
            r#"{"name": "No"}"#,
            r#"{"name": "ALWAYS"}"#,
            r#"{"name": "on_failure"}"#,
            r#"{"name": "onFailure"}"#,
            r#"{"name": "unlessStopped"}"#,
            r#"{"name": "sometimes"}"#,
            r#"{"name": null}"#,
            r#"{"name": 1}"#,
            r#"{"maximum_retry_count": 1}"#,
            r#"{}"#,
            r#"{"name": "always", "maximum_retry_count": -1}"#,
            r#"{"name": "always", "maximum_retry_count": "2"}"#,
            r#"{"name": "always", "MaximumRetryCount": 2}"#,
            r#"{"name": "always", "extra": true}"#,
            r#""always""#,
        ] {
            assert!(serde_json::from_str::<RestartPolicy>(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn retry_count_only_with_on_failure() {
        assert!(policy(PolicyName::OnFailure, 3).validate().is_ok());
        assert!(policy(PolicyName::Always, 0).validate().is_ok());
        let e = policy(PolicyName::Always, 3).validate().unwrap_err();
        assert_eq!(e.code(), crate::error::Code::InvalidArgument);
        assert!(e.message().contains("always"), "{e}");
        assert!(policy(PolicyName::No, 1).validate().is_err());
        assert!(policy(PolicyName::UnlessStopped, 1).validate().is_err());
    }

    #[test]
    fn backoff_doubles_then_caps_at_one_minute() {
        let mut rm = RestartManager::new(policy(PolicyName::Always, 0), 0);
        let got: Vec<_> = (0..14).map(|_| rm.should_restart(1, false, SHORT).unwrap().as_millis()).collect();
        assert_eq!(
            got,
            [100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 51_200, 60_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(rm.restart_count(), 14);
    }

    #[test]
    fn a_long_run_resets_the_backoff() {
        let mut rm = RestartManager::new(policy(PolicyName::UnlessStopped, 0), 0);
        for _ in 0..12 {
            rm.should_restart(0, false, SHORT);
        }
        assert_eq!(rm.should_restart(0, false, SHORT), ms(60_000));
        // Exactly 10 s counts as long.
        assert_eq!(rm.should_restart(0, false, RESET_AFTER), ms(100));
        assert_eq!(rm.should_restart(0, false, SHORT), ms(200));
        assert_eq!(rm.should_restart(0, false, Duration::from_millis(9_999)), ms(400));
        assert_eq!(rm.should_restart(0, false, Duration::from_secs(3_600)), ms(100));
        assert_eq!(rm.should_restart(0, false, SHORT), ms(200));
    }

    #[test]
    fn policy_no_never_restarts() {
        let mut rm = RestartManager::new(policy(PolicyName::No, 0), 0);
        for code in [0, 1, 137, 255] {
            assert_eq!(rm.should_restart(code, false, SHORT), None);
        }
        assert_eq!(rm.restart_count(), 0);
        rm.cancel();
        assert_eq!(rm.should_restart(1, false, SHORT), None);
    }

    #[test]
    fn always_and_unless_stopped_restart_on_any_exit_code() {
        for name in [PolicyName::Always, PolicyName::UnlessStopped] {
            let mut rm = RestartManager::new(policy(name, 0), 0);
            assert_eq!(rm.should_restart(0, false, SHORT), ms(100));
            assert_eq!(rm.should_restart(1, false, SHORT), ms(200));
            assert_eq!(rm.should_restart(137, false, SHORT), ms(400));
            assert_eq!(rm.restart_count(), 3);
        }
    }

    #[test]
    fn a_manual_stop_never_restarts() {
        for name in [PolicyName::Always, PolicyName::UnlessStopped, PolicyName::OnFailure] {
            let mut rm = RestartManager::new(policy(name, 0), 0);
            assert_eq!(rm.should_restart(143, true, SHORT), None, "{name:?}");
            assert_eq!(rm.should_restart(0, true, Duration::from_secs(60)), None, "{name:?}");
            assert_eq!(rm.restart_count(), 0);
            // The backoff still advanced (as in moby), from its reset by the long run.
            assert_eq!(rm.should_restart(1, false, SHORT), ms(200), "{name:?}");
        }
    }

    #[test]
    fn on_failure_restarts_only_non_zero_exits() {
        let mut rm = RestartManager::new(policy(PolicyName::OnFailure, 0), 0);
        assert_eq!(rm.should_restart(0, false, SHORT), None);
        assert_eq!(rm.restart_count(), 0);
        // The backoff advanced on the clean exit too.
        assert_eq!(rm.should_restart(1, false, SHORT), ms(200));
        assert_eq!(rm.should_restart(255, false, SHORT), ms(400));
        assert_eq!(rm.restart_count(), 2);
        // No limit with a maximum of 0.
        for _ in 0..100 {
            assert!(rm.should_restart(2, false, SHORT).is_some());
        }
        assert_eq!(rm.restart_count(), 102);
    }

    #[test]
    fn on_failure_stops_at_the_retry_count() {
        let mut rm = RestartManager::new(policy(PolicyName::OnFailure, 2), 0);
        assert_eq!(rm.should_restart(1, false, SHORT), ms(100));
        assert_eq!(rm.restart_count(), 1);
        assert_eq!(rm.should_restart(1, false, SHORT), ms(200));
        assert_eq!(rm.restart_count(), 2);
        assert_eq!(rm.should_restart(1, false, SHORT), None);
        assert_eq!(rm.should_restart(1, false, Duration::from_secs(20)), None);
        assert_eq!(rm.restart_count(), 2);
    }

    #[test]
    fn the_persisted_count_counts() {
        let mut rm = RestartManager::new(policy(PolicyName::OnFailure, 3), 2);
        assert_eq!(rm.restart_count(), 2);
        assert_eq!(rm.should_restart(1, false, SHORT), ms(100));
        assert_eq!(rm.restart_count(), 3);
        assert_eq!(rm.should_restart(1, false, SHORT), None);

        let mut rm = RestartManager::new(policy(PolicyName::OnFailure, 3), 3);
        assert_eq!(rm.should_restart(1, false, SHORT), None);
        let mut rm = RestartManager::new(policy(PolicyName::Always, 3), 7);
        assert_eq!(rm.should_restart(0, false, SHORT), ms(100));
        assert_eq!(rm.restart_count(), 8);
    }

    #[test]
    fn set_policy_keeps_the_count_and_backoff() {
        let mut rm = RestartManager::new(policy(PolicyName::No, 0), 0);
        assert_eq!(rm.should_restart(1, false, SHORT), None);
        rm.set_policy(policy(PolicyName::Always, 0));
        assert_eq!(rm.should_restart(1, false, SHORT), ms(100));
        assert_eq!(rm.should_restart(1, false, SHORT), ms(200));
        rm.set_policy(policy(PolicyName::OnFailure, 3));
        assert_eq!(rm.should_restart(1, false, SHORT), ms(400));
        assert_eq!(rm.restart_count(), 3);
        assert_eq!(rm.should_restart(1, false, SHORT), None, "on-failure's maximum counts earlier restarts");
        rm.set_policy(policy(PolicyName::No, 0));
        assert_eq!(rm.should_restart(1, false, SHORT), None);
        rm.cancel();
        rm.set_policy(policy(PolicyName::Always, 0));
        assert_eq!(rm.should_restart(1, false, SHORT), None, "a cancelled manager stays cancelled");
    }

    #[test]
    fn cancel_is_final() {
        let mut rm = RestartManager::new(policy(PolicyName::Always, 0), 0);
        assert_eq!(rm.should_restart(1, false, SHORT), ms(100));
        assert!(!rm.is_cancelled());
        rm.cancel();
        assert!(rm.is_cancelled());
        for long in [SHORT, Duration::from_secs(30)] {
            assert_eq!(rm.should_restart(1, false, long), None);
        }
        rm.cancel();
        assert_eq!(rm.should_restart(0, false, SHORT), None);
        assert_eq!(rm.restart_count(), 1);
        assert_eq!(rm.policy(), &policy(PolicyName::Always, 0));

        let mut rm = RestartManager::new(policy(PolicyName::OnFailure, 5), 0);
        rm.cancel();
        assert_eq!(rm.should_restart(1, false, SHORT), None);
        assert_eq!(rm.restart_count(), 0);
    }

    #[test]
    fn count_saturates() {
        let mut rm = RestartManager::new(policy(PolicyName::Always, 0), u32::MAX);
        assert_eq!(rm.should_restart(1, false, SHORT), ms(100));
        assert_eq!(rm.restart_count(), u32::MAX);
    }

    #[test]
    fn restore_decisions() {
        let no = policy(PolicyName::No, 0);
        let always = policy(PolicyName::Always, 0);
        let unless = policy(PolicyName::UnlessStopped, 0);
        let fail = policy(PolicyName::OnFailure, 0);
        let fail2 = policy(PolicyName::OnFailure, 2);

        for stopped in [false, true] {
            for code in [0, 1, 137] {
                assert!(!should_restart_on_restore(&no, code, stopped, 0));
                assert!(should_restart_on_restore(&always, code, stopped, 0));
                assert!(should_restart_on_restore(&always, code, stopped, 1_000));
                assert_eq!(should_restart_on_restore(&unless, code, stopped, 0), !stopped);
                assert_eq!(should_restart_on_restore(&fail, code, stopped, 1_000), code != 0);
            }
        }
        assert!(should_restart_on_restore(&fail2, 1, false, 0));
        assert!(should_restart_on_restore(&fail2, 1, false, 1));
        assert!(!should_restart_on_restore(&fail2, 1, false, 2));
        assert!(!should_restart_on_restore(&fail2, 1, false, 3));
        assert!(!should_restart_on_restore(&fail2, 0, false, 0));
    }
}
