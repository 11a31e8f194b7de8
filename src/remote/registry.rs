//! The remote-wide registry of container ids: which client runs each id, so that a
//! second `create` (or `restore`) of an id is refused before any side effect and an
//! event is routed to the one client that owns its container.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::error::{Code, Error, Result};

/// Who holds an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// The client (by its id) that creates, restores or runs the container.
    Held(usize),
    /// Its `exit` has been reported and containerd is removing it: a new claim waits.
    Reaping,
}

/// The ids the clients of one remote hold.
#[derive(Default)]
pub(crate) struct Registry {
    ids: Mutex<HashMap<String, Claim>>,
    changed: Condvar,
}

impl Registry {
    /// Claims `id` for `client`; waits up to `wait` while an earlier container of the
    /// id is being removed (giving up when the current call ends). ALREADY_EXISTS when
    /// another claim holds it.
    pub(crate) fn claim(&self, id: &str, client: usize, wait: Duration) -> Result<()> {
        let reaping = |m: &HashMap<String, Claim>| m.get(id) == Some(&Claim::Reaping);
        let mut timed_out = false;
        if reaping(&self.ids.lock().unwrap()) {
            timed_out = !crate::call::wait_sliced(wait, |slice| {
                let (g, _) = self.changed.wait_timeout_while(self.ids.lock().unwrap(), slice, |m| reaping(m)).unwrap();
                !reaping(&g)
            })?;
        }
        let mut ids = self.ids.lock().unwrap();
        match ids.get(id) {
            None => {
                ids.insert(id.to_string(), Claim::Held(client));
                Ok(())
            }
            Some(Claim::Reaping) if timed_out => {
                Err(Error::new(Code::AlreadyExists, format!("container {id} is still being removed")))
            }
            Some(_) => Err(Error::new(Code::AlreadyExists, format!("container {id} is already active"))),
        }
    }

    /// The client holding `id`, if one does.
    pub(crate) fn holder(&self, id: &str) -> Option<usize> {
        match self.ids.lock().unwrap().get(id) {
            Some(Claim::Held(c)) => Some(*c),
            _ => None,
        }
    }

    /// `client`'s container `id` is being removed: the id stays taken until
    /// [`Registry::reaped`].
    pub(crate) fn reaping(&self, id: &str, client: usize) {
        let mut ids = self.ids.lock().unwrap();
        if ids.get(id) == Some(&Claim::Held(client)) {
            ids.insert(id.to_string(), Claim::Reaping);
        }
    }

    /// containerd has removed `id`: the id is free.
    pub(crate) fn reaped(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if ids.get(id) == Some(&Claim::Reaping) {
            ids.remove(id);
        }
        self.changed.notify_all();
    }

    /// `client` no longer holds `id` (a no-op if it does not).
    pub(crate) fn release(&self, id: &str, client: usize) {
        let mut ids = self.ids.lock().unwrap();
        if ids.get(id) == Some(&Claim::Held(client)) {
            ids.remove(id);
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_held_id_is_refused_to_any_client_until_released() {
        let r = Registry::default();
        r.claim("a", 1, Duration::ZERO).unwrap();
        assert_eq!(r.claim("a", 2, Duration::ZERO).unwrap_err().code(), Code::AlreadyExists);
        assert_eq!(r.claim("a", 1, Duration::ZERO).unwrap_err().code(), Code::AlreadyExists);
        assert_eq!(r.holder("a"), Some(1));
        r.release("a", 2);
        assert_eq!(r.holder("a"), Some(1));
        r.release("a", 1);
        r.claim("a", 2, Duration::ZERO).unwrap();
        assert_eq!(r.holder("a"), Some(2));
    }

    #[test]
    fn a_claim_waits_for_the_reaping_of_the_id() {
        let r = Arc::new(Registry::default());
        r.claim("a", 1, Duration::ZERO).unwrap();
        r.reaping("a", 1);
        assert_eq!(r.holder("a"), None);
        assert_eq!(r.claim("a", 2, Duration::from_millis(10)).unwrap_err().code(), Code::AlreadyExists);
        let r2 = r.clone();
        let t = std::thread::spawn(move || r2.claim("a", 2, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        r.reaped("a");
        t.join().unwrap().unwrap();
        assert_eq!(r.holder("a"), Some(2));
    }
}
