use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use containerd::*;

#[derive(Default)]
struct Rec {
    events: Mutex<Vec<(String, StateInfo)>>,
    cv: Condvar,
    out: Mutex<Vec<std::thread::JoinHandle<Vec<u8>>>>,
}
impl Backend for Rec {
    fn state_changed(&self, c: &str, i: &StateInfo) -> Result<()> {
        eprintln!("event {c} {:?}", i);
        self.events.lock().unwrap().push((c.into(), i.clone()));
        self.cv.notify_all();
        Ok(())
    }
    fn attach_streams(&self, _c: &str, _p: &str, io: IoPipe) -> Result<()> {
        drop(io.stdin);
        let mut f = std::fs::File::from(io.stdout);
        self.out.lock().unwrap().push(std::thread::spawn(move || {
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            v
        }));
        if let Some(e) = io.stderr { drop(e) }
        Ok(())
    }
}

#[test]
fn smoke() {
    let _ = std::fs::remove_dir_all("/tmp/lcd-smoke");
    let t0 = std::time::Instant::now();
    let remote = Remote::new(RemoteOptions { state_dir: Some("/tmp/lcd-smoke".into()), ..Default::default() }).unwrap();
    eprintln!("remote up in {:?}", t0.elapsed());
    let rec = Arc::new(Rec::default());
    let client = remote.client(rec.clone()).unwrap();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"args": ["sh", "-c", "echo hello; exit 7"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
        "root": {"path": "/tmp/rootfs", "readonly": true},
        "hostname": "smoke",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]}
    });
    let spec = ContainerSpec::from_json(&spec.to_string()).unwrap();
    let t1 = std::time::Instant::now();
    client.create("smoke1", &spec, &CreateOptions::default()).unwrap();
    eprintln!("created in {:?}", t1.elapsed());
    let mut ev = rec.events.lock().unwrap();
    while !ev.iter().any(|(_, i)| i.state == State::Exit) {
        let (g, to) = rec.cv.wait_timeout(ev, Duration::from_secs(10)).unwrap();
        ev = g;
        assert!(!to.timed_out(), "no exit");
    }
    eprintln!("exit after {:?}", t1.elapsed());
    drop(ev);
    let out = rec.out.lock().unwrap().pop().unwrap().join().unwrap();
    assert_eq!(out, b"hello\n");
    println!("{:?}", client.list().unwrap());
    remote.cleanup().unwrap();
}
