//! Containers created from an image on a real containerd: the image (two layers built
//! from the busybox fixture with umoci, archived with skopeo, imported with `ctr
//! images import --no-unpack`) is unpacked by the library, each container gets a
//! snapshot of its own, the image config fills the process, the snapshot goes with
//! the container, and restore re-adopts such containers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use containerd::{Code, ContainerSpec, CreateOptions, PolicyName, ProcessSpec, Remote, RestartPolicy, State};
use serde_json::Value;

/// The image's name (the archive's reference annotation).
const IMAGE: &str = "lcd.test/busybox:v1";

/// The namespace of the library's remotes in these tests (the default).
const NAMESPACE: &str = "libcontainerd";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup.sh)"));
    assert!(out.status.success(), "{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An OCI archive of a two-layer image: the busybox fixture, then a layer adding
/// `/srv/layer2.txt` and deleting `/etc/hostname`; its config runs `sh -c` with a
/// command printing what the container sees, as user `app` in `/srv`, stop signal
/// SIGINT. Built once per test binary.
fn image_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = temp_state_dir().keep();
        let oci = dir.join("oci");
        let bundle = dir.join("bundle");
        let image = format!("{}:img", oci.display());
        run(Command::new("umoci").arg("init").arg("--layout").arg(&oci));
        run(Command::new("umoci").args(["new", "--image", &image]));
        run(Command::new("umoci").args(["unpack", "--image", &image]).arg(&bundle));
        run(Command::new("cp").arg("-a").arg(format!("{}/.", rootfs().display())).arg(bundle.join("rootfs")));
        run(Command::new("umoci").args(["repack", "--refresh-bundle", "--image", &image]).arg(&bundle));
        std::fs::create_dir_all(bundle.join("rootfs/srv")).unwrap();
        std::fs::write(bundle.join("rootfs/srv/layer2.txt"), "layer-two\n").unwrap();
        std::fs::remove_file(bundle.join("rootfs/etc/hostname")).unwrap();
        run(Command::new("umoci").args(["repack", "--refresh-bundle", "--image", &image]).arg(&bundle));
        let cmd = "echo cwd=$(pwd) uid=$(id -u) gid=$(id -g) var=$IMG_VAR over=$OVER; cat layer2.txt; \
                   test -e /etc/hostname && echo hostname-present || echo hostname-gone";
        run(Command::new("umoci").args([
            "config",
            "--image",
            &image,
            "--config.entrypoint",
            "/bin/sh",
            "--config.entrypoint",
            "-c",
            "--config.cmd",
            cmd,
            "--config.env",
            "IMG_VAR=fromimage",
            "--config.env",
            "OVER=image",
            "--config.env",
            "PATH=/bin:/usr/bin",
            "--config.workingdir",
            "/srv",
            "--config.user",
            "app",
            "--config.stopsignal",
            "SIGINT",
        ]));
        let archive = dir.join("img.tar");
        run(Command::new("skopeo").args(["copy", "-q", &format!("oci:{image}"), &format!("oci-archive:{}:{IMAGE}", archive.display())]));
        let _ = std::fs::remove_dir_all(&bundle);
        archive
    })
}

/// `ctr` against the containerd of `state_dir`, in the library's namespace.
fn ctr(state_dir: &Path, args: &[&str]) -> String {
    run(Command::new("ctr").arg("-a").arg(state_dir.join("containerd/containerd.sock")).args(["-n", NAMESPACE]).args(args))
}

/// Imports the image into the containerd of `state_dir` without unpacking it.
fn import(state_dir: &Path) {
    ctr(state_dir, &["images", "import", "--no-unpack", &image_archive().to_string_lossy()]);
}

/// The shared test remote, with the image imported (once).
fn image_client() -> (containerd::Client, std::sync::Arc<Recorder>) {
    static IMPORTED: OnceLock<()> = OnceLock::new();
    let r = test_client();
    IMPORTED.get_or_init(|| import(&test_state_dir()));
    r
}

/// The snapshot keys of `snapshotter` in the containerd of `state_dir`.
fn snapshots(state_dir: &Path, snapshotter: &str) -> Vec<String> {
    ctr(state_dir, &["snapshots", "--snapshotter", snapshotter, "ls"]).lines().skip(1).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect()
}

/// The committed snapshots (unpacked layers) of overlayfs in `state_dir`'s containerd.
fn committed(state_dir: &Path) -> Vec<String> {
    ctr(state_dir, &["snapshots", "--snapshotter", "overlayfs", "ls"])
        .lines()
        .filter(|l| l.split_whitespace().last() == Some("Committed"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Has containerd's garbage collector run now (a lease deleted with `--sync`).
fn collect_garbage(state_dir: &Path) {
    let lease = ctr(state_dir, &["leases", "create"]);
    let id = lease.split_whitespace().next().expect("lease id").to_string();
    ctr(state_dir, &["leases", "delete", "--sync", &id]);
}

/// Waits until `state_dir`'s overlayfs holds no snapshot `key`.
fn wait_snapshot_gone(state_dir: &Path, key: &str) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while snapshots(state_dir, "overlayfs").iter().any(|k| k == key) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!snapshots(state_dir, "overlayfs").iter().any(|k| k == key), "snapshot {key} outlived its container");
}

/// A spec for an image container: the busybox spec's namespaces and mounts, a
/// process that names only `env` (the rest comes from the image), a writable root
/// whose path does not exist (it is ignored).
fn image_spec(args: &[&str]) -> ContainerSpec {
    image_spec_as(args, None)
}

/// [`image_spec`] with the spec naming its own user (`Some(uid)`).
fn image_spec_as(args: &[&str], uid: Option<u32>) -> ContainerSpec {
    let mut v = busybox_spec(args);
    let p = v["process"].as_object_mut().unwrap();
    if args.is_empty() {
        p.remove("args");
    }
    p.remove("cwd");
    p.remove("user");
    p.insert("env".into(), serde_json::json!(["OVER=spec"]));
    v["root"] = serde_json::json!({"path": "/nonexistent/ignored", "readonly": false});
    if let Some(uid) = uid {
        v["process"]["user"] = serde_json::json!({"uid": uid, "gid": uid});
    }
    ContainerSpec::for_options(&v.to_string(), &image_options()).unwrap()
}

fn image_options() -> CreateOptions {
    CreateOptions { image: Some(IMAGE.into()), ..Default::default() }
}

#[test]
fn image_config_fills_the_process_and_the_layers_are_seen() {
    let (client, rec) = image_client();
    let id = unique_id("img-config");
    client.create(&id, &image_spec(&[]), &image_options()).unwrap();
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(exit.exit_code, 0, "stderr: {}", rec.stderr(&id, "init"));
    assert_eq!(
        rec.stdout(&id, "init"),
        "cwd=/srv uid=1000 gid=1000 var=fromimage over=spec\nlayer-two\nhostname-gone\n",
        "stderr: {}",
        rec.stderr(&id, "init")
    );
}

#[test]
fn the_container_record_names_image_snapshot_and_stop_signal() {
    let (client, rec) = image_client();
    let id = unique_id("img-record");
    client.create(&id, &image_spec(&["sleep", "300"]), &image_options()).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    let info: Value = serde_json::from_str(&ctr(&test_state_dir(), &["containers", "info", &id])).unwrap();
    assert_eq!(info["Image"], IMAGE);
    assert_eq!(info["SnapshotKey"], id.as_str());
    assert_eq!(info["Snapshotter"], "overlayfs");
    assert_eq!(info["Labels"]["io.containerd.image.config.stop-signal"], "SIGINT");
    // The spec containerd runs: the bundle's rootfs, not the spec's path.
    assert_eq!(info["Spec"]["root"]["path"], "rootfs");
    client.signal(&id, 9).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
}

#[test]
fn containers_of_one_image_do_not_see_each_others_writes() {
    let (client, rec) = image_client();
    let (a, b) = (unique_id("img-a"), unique_id("img-b"));
    let writer = image_spec_as(&["sh", "-c", "echo from-a > /srv/layer2.txt; echo mine > /mine; echo written; sleep 300"], Some(0));
    client.create(&a, &writer, &image_options()).unwrap();
    rec.wait_stdout_contains(&a, "init", "written", TIMEOUT);
    // The other one on the native snapshotter: the image is unpacked there too.
    let reader = image_spec(&["sh", "-c", "cat /srv/layer2.txt; test -e /mine && echo sees-mine || echo no-mine"]);
    let native = CreateOptions { snapshotter: Some("native".into()), ..image_options() };
    client.create(&b, &reader, &native).unwrap();
    let exit = rec.wait_for(&b, State::Exit, TIMEOUT);
    rec.wait_output_closed(&b, "init", TIMEOUT);
    assert_eq!(exit.exit_code, 0, "{}{}", rec.stdout(&b, "init"), rec.stderr(&b, "init"));
    assert_eq!(rec.stdout(&b, "init"), "layer-two\nno-mine\n");
    // A's write is in A's own snapshot.
    client.add_process(&a, "look", &ProcessSpec { args: vec!["cat".into(), "/srv/layer2.txt".into(), "/mine".into()], ..Default::default() }).unwrap();
    assert_eq!(rec.wait_for_process(&a, "look", State::ExitProcess, TIMEOUT).exit_code, 0);
    rec.wait_output_closed(&a, "look", TIMEOUT);
    assert_eq!(rec.stdout(&a, "look"), "from-a\nmine\n");
    client.signal(&a, 9).unwrap();
    rec.wait_for(&a, State::Exit, TIMEOUT);
}

#[test]
fn a_readonly_root_cannot_be_written() {
    let (client, rec) = image_client();
    let id = unique_id("img-ro");
    let mut v: Value = serde_json::from_str(&image_spec_as(&["sh", "-c", "echo x > /srv/new 2>/dev/null && echo wrote || echo refused"], Some(0)).json).unwrap();
    v["root"]["readonly"] = true.into();
    client.create(&id, &ContainerSpec::for_image(&v.to_string()).unwrap(), &image_options()).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "refused\n");
}

#[test]
fn the_snapshot_goes_with_the_container_and_survives_its_restarts() {
    let (client, rec) = image_client();
    let dir = test_state_dir();
    let id = unique_id("img-snap");
    // The first run leaves a file and fails; the restart sees the file and succeeds.
    let spec = image_spec_as(&["sh", "-c", "if test -e /run1; then echo second; exit 0; fi; touch /run1; echo first; exit 3"], Some(0));
    let opts = CreateOptions { restart_policy: Some(RestartPolicy { name: PolicyName::OnFailure, maximum_retry_count: 1 }), ..image_options() };
    client.create(&id, &spec, &opts).unwrap();
    rec.wait_for(&id, State::StartContainer, TIMEOUT);
    assert!(snapshots(&dir, "overlayfs").contains(&id), "no snapshot {id} while it runs");
    rec.wait_for(&id, State::Restart, TIMEOUT);
    let exit = rec.wait_for(&id, State::Exit, TIMEOUT);
    assert_eq!(exit.exit_code, 0);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert!(rec.stdout(&id, "init").contains("second"), "{}", rec.stdout(&id, "init"));
    // Removed with the container (the id is free once exit is reported; wait for
    // the reaping through a new create of the same id).
    let again = image_spec(&["true"]);
    client.create(&id, &again, &image_options()).unwrap();
    rec.wait_for_nth(&id, State::Exit, 2, TIMEOUT);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while snapshots(&dir, "overlayfs").contains(&id) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!snapshots(&dir, "overlayfs").contains(&id), "snapshot {id} outlived its container");
}

#[test]
fn an_image_that_is_not_there_is_not_found_and_leaves_nothing() {
    let (client, _rec) = image_client();
    let id = unique_id("img-missing");
    let opts = CreateOptions { image: Some("lcd.test/nothing:here".into()), ..Default::default() };
    let e = client.create(&id, &image_spec(&["true"]), &opts).unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    assert!(!client.list().unwrap().iter().any(|c| c.id == id));
    assert!(!snapshots(&test_state_dir(), "overlayfs").contains(&id));
    // Bad options are refused before anything happens.
    assert_eq!(CreateOptions::from_json(Some(r#"{"image": "x", "snapshoter": "native"}"#)).unwrap_err().code(), Code::InvalidArgument);
}

#[test]
fn removing_the_image_keeps_its_containers_running() {
    let d = TestDaemon::start();
    import(&d.state_dir);
    let (client, rec) = d.client();
    let id = unique_id("img-rm");
    client.create(&id, &image_spec(&["sh", "-c", "echo up; sleep 300"]), &image_options()).unwrap();
    rec.wait_stdout_contains(&id, "init", "up", TIMEOUT);
    // Unpacked: two layers. A collection while the image is there keeps them (the
    // config blob names the top one).
    assert_eq!(committed(&d.state_dir).len(), 2, "{:?}", snapshots(&d.state_dir, "overlayfs"));
    ctr(&d.state_dir, &["images", "tag", IMAGE, "lcd.test/busybox:other"]);
    ctr(&d.state_dir, &["images", "rm", "--sync", "lcd.test/busybox:other"]);
    assert_eq!(committed(&d.state_dir).len(), 2, "the collector took the layers of an image still there");
    // Remove the image and let the collector run (ctr's --sync waits for it).
    ctr(&d.state_dir, &["images", "rm", "--sync", IMAGE]);
    assert!(!ctr(&d.state_dir, &["images", "ls", "-q"]).contains(IMAGE));
    client.add_process(&id, "look", &ProcessSpec { args: vec!["cat".into(), "/srv/layer2.txt".into()], ..Default::default() }).unwrap();
    assert_eq!(rec.wait_for_process(&id, "look", State::ExitProcess, TIMEOUT).exit_code, 0);
    rec.wait_output_closed(&id, "look", TIMEOUT);
    assert_eq!(rec.stdout(&id, "look"), "layer-two\n");
    client.signal(&id, 9).unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 137);
    let e = client.create(&unique_id("img-rm"), &image_spec(&["true"]), &image_options()).unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    // With the image and its last container gone, the collector reclaims the layers.
    wait_snapshot_gone(&d.state_dir, &id);
    collect_garbage(&d.state_dir);
    assert_eq!(committed(&d.state_dir), Vec::<String>::new());
}

#[test]
fn failed_creates_and_cleanup_remove_the_snapshot() {
    let d = TestDaemon::start();
    import(&d.state_dir);
    let (client, rec) = d.client();
    let failed = unique_id("img-fail");
    rec.fail_next_attach(containerd::Error::new(Code::Internal, "refused by the test"));
    let e = client.create(&failed, &image_spec(&["true"]), &image_options()).unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e}");
    assert!(!snapshots(&d.state_dir, "overlayfs").contains(&failed), "a failed create left its snapshot");
    // A container nobody watches any more is removed at cleanup, its snapshot with it.
    let orphan = unique_id("img-orphan");
    client.create(&orphan, &image_spec(&["sleep", "300"]), &image_options()).unwrap();
    client.close();
    drop(client);
    assert!(snapshots(&d.state_dir, "overlayfs").contains(&orphan));
    d.remote.cleanup().unwrap();
    // Look with containerd running again on the same state.
    let again = Remote::new(d.options()).unwrap();
    assert!(!snapshots(&d.state_dir, "overlayfs").contains(&orphan), "cleanup left the snapshot of {orphan}");
    again.cleanup().unwrap();
}

/// The first host program: keeps every stdin open and reads no output, so whatever
/// the containers print stays in their pipes for the program that restores them.
#[derive(Default)]
struct FirstHost(std::sync::Mutex<Vec<std::os::fd::OwnedFd>>);

impl containerd::Backend for FirstHost {
    fn attach_streams(&self, _: &str, _: &str, io: containerd::IoPipe) -> containerd::Result<()> {
        self.0.lock().unwrap().push(io.stdin);
        Ok(())
    }
}

#[test]
fn restore_readopts_an_image_container_after_a_restart_of_everything() {
    let dir = temp_state_dir();
    let mut opts = daemon_options(dir.path());
    opts.live_restore = Some(true);
    let id = unique_id("img-restore");
    // The first host program keeps the container's stdin open and reads nothing.
    let _first = {
        let remote = Remote::new(opts.clone()).unwrap();
        import(dir.path());
        let first = std::sync::Arc::new(FirstHost::default());
        let client = remote.client(first.clone()).unwrap();
        client.create(&id, &image_spec(&["sh", "-c", "echo up; read x; echo got $x; cat /srv/layer2.txt; exit 4"]), &image_options()).unwrap();
        client.close();
        drop(client);
        remote.cleanup().unwrap();
        first
    };
    // containerd and the host program are gone; the container is not.
    let remote = Remote::new(opts).unwrap();
    let rec = Recorder::new();
    let client = remote.client(rec.backend()).unwrap();
    client.restore(&id, &CreateOptions::default()).unwrap();
    rec.wait_for(&id, State::Restore, TIMEOUT);
    use std::io::Write;
    rec.take_stdin(&id, "init").write_all(b"more\n").unwrap();
    assert_eq!(rec.wait_for(&id, State::Exit, TIMEOUT).exit_code, 4);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "up\ngot more\nlayer-two\n");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while snapshots(dir.path(), "overlayfs").contains(&id) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!snapshots(dir.path(), "overlayfs").contains(&id), "snapshot {id} outlived its restored container");
    remote.cleanup().unwrap();
    stop_daemon(dir.path());
}

#[test]
fn unpacking_reports_each_layer_once_and_labels_the_content() {
    let d = TestDaemon::start();
    import(&d.state_dir);
    let events = std::sync::Mutex::new(Vec::new());
    let record = |e: containerd::images::ProgressEvent| events.lock().unwrap().push(e);
    let top = d.remote.unpack_image(IMAGE, None, Some(&record)).unwrap();
    let events = events.into_inner().unwrap();
    // Two layers, each reported when it starts and when it is in.
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(events.iter().all(|e| e.status == "extracting" && e.reference == IMAGE));
    assert_eq!((events[0].current, events[1].current), (0, events[1].total));
    assert_eq!(events[0].digest, events[1].digest);
    assert_ne!(events[1].digest, events[2].digest);
    assert_eq!(committed(&d.state_dir).len(), 2);
    assert!(committed(&d.state_dir).contains(&top));
    // The config names the top layer for the collector; the layers their diff ids.
    let content = ctr(&d.state_dir, &["content", "ls"]);
    assert!(content.contains(&format!("containerd.io/gc.ref.snapshot.overlayfs={top}")), "{content}");
    assert_eq!(content.matches("containerd.io/uncompressed=").count(), 2, "{content}");
    // Again: nothing left to do, nothing reported, the same top.
    let again = std::sync::Mutex::new(0);
    let count = |_: containerd::images::ProgressEvent| *again.lock().unwrap() += 1;
    assert_eq!(d.remote.unpack_image(IMAGE, Some("overlayfs"), Some(&count)).unwrap(), top);
    assert_eq!(*again.lock().unwrap(), 0);
    let e = d.remote.unpack_image("lcd.test/none:here", None, None).unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    // The layers removed behind the library's back: a create unpacks them again.
    let layers = committed(&d.state_dir);
    let bottom = layers.iter().find(|k| **k != top).unwrap().clone();
    ctr(&d.state_dir, &["snapshots", "--snapshotter", "overlayfs", "rm", &top]);
    // With the top gone nothing refers to the bottom: containerd's collector, scheduled
    // by the removal, may take it first.
    let sock = d.state_dir.join("containerd/containerd.sock");
    let _ = Command::new("ctr").arg("-a").arg(&sock).args(["-n", NAMESPACE, "snapshots", "--snapshotter", "overlayfs", "rm", &bottom]).output();
    assert_eq!(committed(&d.state_dir), Vec::<String>::new());
    let (client, rec) = d.client();
    let id = unique_id("img-again");
    client.create(&id, &image_spec(&["cat", "/srv/layer2.txt"]), &image_options()).unwrap();
    rec.wait_for(&id, State::Exit, TIMEOUT);
    rec.wait_output_closed(&id, "init", TIMEOUT);
    assert_eq!(rec.stdout(&id, "init"), "layer-two\n");
    assert_eq!(committed(&d.state_dir).len(), 2);
}
