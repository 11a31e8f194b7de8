//! Many threads driving one client at once: every container's exit is seen exactly
//! once with its own code, and nothing is left behind.

mod common;

use std::time::Duration;

use common::*;
use containerd::{CreateOptions, ProcessSpec, State};

#[test]
fn parallel_creates_execs_and_exits_are_all_seen_once() {
    let (client, rec) = test_client();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for n in 0..3 {
                    let id = unique_id(&format!("par{t}"));
                    let code = (t * 3 + n) % 100;
                    client.create(&id, &spec(&["sh", "-c", &format!("sleep 0.3; exit {code}")]), &CreateOptions::default()).unwrap();
                    // An exec racing the container's own end may fail; it must not
                    // disturb the exit.
                    let p = ProcessSpec::from_json(r#"{"args": ["true"]}"#).unwrap();
                    let _ = client.add_process(&id, "side", &p);
                    let _ = client.stats(&id);
                    ids.push((id, code));
                }
                ids
            })
        })
        .collect();
    let all: Vec<(String, u32)> = threads.into_iter().flat_map(|t| t.join().unwrap()).map(|(id, c)| (id, c as u32)).collect();
    for (id, code) in &all {
        let exit = rec.wait_for(id, State::Exit, Duration::from_secs(60));
        assert_eq!(exit.exit_code, *code, "{id}");
    }
    std::thread::sleep(Duration::from_millis(500));
    for (id, _) in &all {
        assert_eq!(rec.count(id, State::Exit), 1, "{id}: {:?}", rec.events(id));
        let states = rec.states(id);
        assert_eq!(states[0], State::StartContainer, "{id}: {states:?}");
        assert_eq!(*states.last().unwrap(), State::Exit, "{id}: {states:?}");
        let fifo_dir = test_state_dir().join("fifo/libcontainerd").join(id);
        assert!(!fifo_dir.exists(), "fifos left behind in {}", fifo_dir.display());
    }
    let listed = client.list().unwrap();
    assert!(all.iter().all(|(id, _)| listed.iter().all(|c| &c.id != id)));
}
