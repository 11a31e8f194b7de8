//! Pull progress: the `{"ref","digest","status","current","total"}` reports of a pull,
//! handed to the host's callback in order on one library thread, all of them before
//! the pull returns.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often a download in flight reports its byte count at most.
const DOWNLOAD_REPORT_EVERY: Duration = Duration::from_millis(100);

/// What is happening to one piece of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The reference is being resolved to a digest.
    Resolving,
    /// A blob waits for a download slot.
    Waiting,
    /// A blob is being downloaded.
    Downloading,
    /// A downloaded blob's digest and size are being checked and committed.
    Verifying,
    /// A layer is being unpacked into the snapshotter.
    Extracting,
    /// Finished.
    Done,
    /// Already in containerd's content store: nothing to download.
    Exists,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The image reference being pulled.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The blob (or, while resolving, empty).
    pub digest: String,
    /// What is happening.
    pub status: Status,
    /// Bytes done.
    pub current: u64,
    /// Bytes in all.
    pub total: u64,
}

/// The host's progress callback.
pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

/// Delivers reports to a callback on a thread of its own, in the order they are
/// sent; a slow callback holds up nothing but later reports. [`Reporter::finish`]
/// waits until every report has been delivered.
pub struct Reporter {
    reference: String,
    tx: Option<mpsc::Sender<Progress>>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// A reporter for the pull of `reference`; `None` discards the reports.
    pub fn new(reference: &str, callback: Option<ProgressFn>) -> Reporter {
        let (tx, thread) = match callback {
            Some(mut cb) => {
                let (tx, rx) = mpsc::channel::<Progress>();
                let thread = std::thread::Builder::new()
                    .name("lcd-progress".into())
                    .spawn(move || {
                        for p in rx {
                            cb(&p);
                        }
                    })
                    .ok();
                (thread.is_some().then_some(tx), thread)
            }
            None => (None, None),
        };
        Reporter { reference: reference.to_string(), tx, thread }
    }

    /// Sends one report.
    pub fn send(&self, digest: &str, status: Status, current: u64, total: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Progress { reference: self.reference.clone(), digest: digest.to_string(), status, current, total });
        }
    }

    /// A throttle for the `downloading` reports of one blob.
    pub fn download(&self, digest: &str, total: u64) -> Download<'_> {
        Download { reporter: self, digest: digest.to_string(), total, last: None }
    }

    /// Waits until every report sent has been delivered.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The download reports of one blob, at most one per [`DOWNLOAD_REPORT_EVERY`].
pub struct Download<'a> {
    reporter: &'a Reporter,
    digest: String,
    total: u64,
    last: Option<Instant>,
}

impl Download<'_> {
    /// Reports that every byte arrived and the blob is being checked and committed.
    pub fn verifying(&mut self) {
        self.reporter.send(&self.digest, Status::Verifying, self.total, self.total);
    }

    /// Reports `current` bytes when the last report is old enough (always the first).
    pub fn update(&mut self, current: u64) {
        if self.last.is_none_or(|t| t.elapsed() >= DOWNLOAD_REPORT_EVERY) {
            self.last = Some(Instant::now());
            self.reporter.send(&self.digest, Status::Downloading, current, self.total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn reports_arrive_in_order_on_one_thread_before_finish_returns() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let r = Reporter::new(
            "r",
            Some(Box::new(move |p: &Progress| {
                std::thread::sleep(Duration::from_millis(1));
                s.lock().unwrap().push((p.current, std::thread::current().name().map(String::from)));
            })),
        );
        for i in 0..50 {
            r.send("d", Status::Downloading, i, 50);
        }
        r.finish();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().map(|x| x.0).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
        assert!(seen.iter().all(|x| x.1.as_deref() == Some("lcd-progress")));
        let json = serde_json::to_string(&Progress { reference: "a".into(), digest: "d".into(), status: Status::Exists, current: 1, total: 2 }).unwrap();
        assert_eq!(json, r#"{"ref":"a","digest":"d","status":"exists","current":1,"total":2}"#);
    }
}
