//! Unpacking an image's layers into a snapshotter through containerd's own services,
//! as the Go client's `rootfs.ApplyLayers` does.
//!
//! Entry points (for the pull and import code):
//! - [`unpack_image`]`(conn, image_name, snapshotter, progress) -> Result<String>`:
//!   the image must be registered in the images service with its content in the
//!   content store; returns the top layer's chain id (the parent of container
//!   snapshots). `progress` receives an `extracting` [`ProgressEvent`] when a layer
//!   starts (`current` 0) and when it is in (`current` = `total`), on the calling
//!   task, in order; layers already unpacked send nothing.
//! - [`unpack_resolved`]: the same for an image already resolved with
//!   [`super::config::resolve`]; it remembers what this process unpacked and does not
//!   ask containerd again ([`forget`] undoes that; `unpack_image` always asks).
//! - `Remote::unpack_image(name, snapshotter, progress)`: the public, blocking form.
//! - [`snapshotter_for`]: the snapshotter to use when the caller names none
//!   (`overlayfs`, or `native` where containerd could not load overlayfs).
//! - [`Unpacker`]: the same one layer at a time, for a pull that unpacks each layer
//!   as soon as its blob is in while later ones still download.
//!
//! What is there already is found with one `Stat` of the top chain id (and, when it
//! is missing, of the lower ones at once). For each layer whose chain id is not a
//! committed snapshot yet: `Prepare` a temporary key over the previous chain id,
//! `Diff.Apply` the layer blob into its mounts (containerd decompresses and checks
//! the result), check the applied digest against the config's diff id, `Commit` as
//! the chain id. All under a lease; then
//! the config blob gets `containerd.io/gc.ref.snapshot.<snapshotter>` = top chain id
//! and each layer blob `containerd.io/uncompressed` = its diff id, so containerd's
//! garbage collector keeps the snapshots as long as the image.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use containerd_client::services::v1::snapshots::{CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest};
use containerd_client::services::v1::{ApplyRequest, Info as ContentInfo, UpdateRequest};
use containerd_client::types::Descriptor as CtrDescriptor;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::{self, ResolvedImage};
use super::inflate::Inflated;
use super::lease::Lease;
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;

/// The snapshotter used when none is named.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// The snapshotter used when containerd could not load overlayfs.
pub const FALLBACK_SNAPSHOTTER: &str = "native";

/// Label on the config blob naming the image's top snapshot (containerd's GC ref).
pub const GC_REF_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.";

/// Label on a layer blob holding its uncompressed digest.
pub const UNCOMPRESSED_LABEL: &str = "containerd.io/uncompressed";

/// Deadline of one `Diff.Apply` (a layer of hundreds of MB on a busy machine).
const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// One progress report of a pull or an unpack: the JSON object of §6.3
/// (`{"ref","digest","status","current","total"}`). Until the pull code brings its own
/// progress type, unpacking reports with this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressEvent {
    /// The image reference.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The blob (here: the layer) concerned.
    pub digest: String,
    /// `extracting` for unpacking.
    pub status: String,
    /// Bytes done.
    pub current: u64,
    /// Bytes in all.
    pub total: u64,
}

/// A progress callback; called on the unpacking task, in order.
pub type Progress<'a> = Option<&'a (dyn Fn(ProgressEvent) + Sync)>;

/// The chain ids of a stack of layers: `chain_0 = diff_0`,
/// `chain_i = sha256(chain_{i-1} + " " + diff_i)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!("sha256:{:x}", Sha256::digest(format!("{prev} {d}").as_bytes())),
        };
        out.push(next);
    }
    out
}

/// The snapshotter to use: `requested` if given, else [`DEFAULT_SNAPSHOTTER`] unless
/// containerd reports it not loaded (then [`FALLBACK_SNAPSHOTTER`]); the probe's
/// answer is kept per containerd socket.
pub async fn snapshotter_for(conn: &Connection, requested: Option<&str>) -> Result<String> {
    if let Some(s) = requested {
        return Ok(s.to_string());
    }
    static PROBED: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    if let Some(s) = PROBED.lock().unwrap().as_ref().and_then(|m| m.get(conn.socket()).cloned()) {
        return Ok(s);
    }
    let req = StatSnapshotRequest { snapshotter: DEFAULT_SNAPSHOTTER.into(), key: "libcontainerd-probe".into() };
    let chosen = match conn.call(req, |c, r| async move { c.snapshots().stat(c.request(r)).await }).await {
        Ok(_) => DEFAULT_SNAPSHOTTER,
        Err(s) if s.code() == tonic::Code::NotFound => DEFAULT_SNAPSHOTTER,
        Err(s) if s.code() == tonic::Code::InvalidArgument || s.message().contains("not loaded") => {
            log::info!("snapshotter {DEFAULT_SNAPSHOTTER} unavailable ({}); using {FALLBACK_SNAPSHOTTER}", s.message());
            FALLBACK_SNAPSHOTTER
        }
        Err(s) => return Err(Error::from_status("probe snapshotter", &s)),
    };
    PROBED.lock().unwrap().get_or_insert_with(HashMap::new).insert(conn.socket().to_path_buf(), chosen.to_string());
    Ok(chosen.to_string())
}

impl crate::Remote {
    /// Unpacks image `name` of the remote's namespace into `snapshotter` (`None`: the
    /// default, see [`snapshotter_for`]) unless it is there already; returns the top
    /// layer's chain id. `progress` gets an `extracting` report as each layer starts
    /// and ends, on the calling thread. NOT_FOUND when there is no such image.
    /// Blocking; do not call it from an async runtime's worker.
    pub fn unpack_image(&self, name: &str, snapshotter: Option<&str>, progress: Progress<'_>) -> Result<String> {
        self.inner.check_live()?;
        let conn = &self.inner.conn;
        crate::call::wait(async {
            let snapshotter = snapshotter_for(conn, snapshotter).await?;
            unpack_image(conn, name, &snapshotter, progress).await
        })
    }
}

/// Unpacks image `image_name` into `snapshotter`; see the module's documentation.
pub async fn unpack_image(conn: &Connection, image_name: &str, snapshotter: &str, progress: Progress<'_>) -> Result<String> {
    let image = config::resolve(conn, image_name).await?;
    // Asked explicitly: look at what containerd has, whatever this process did before.
    forget(conn, &image, snapshotter);
    unpack_resolved(conn, &image, snapshotter, progress).await
}

/// Whether snapshot `key` exists in `snapshotter`.
async fn exists(conn: &Connection, snapshotter: &str, key: &str) -> Result<bool> {
    let req = StatSnapshotRequest { snapshotter: snapshotter.into(), key: key.into() };
    match conn.call(req, |c, r| async move { c.snapshots().stat(c.request(r)).await }).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(Error::from_status(format!("stat snapshot {key} in {snapshotter}"), &s)),
    }
}

/// Images this process unpacked and labelled, by (socket, namespace, config digest,
/// snapshotter): [`unpack_resolved`] trusts them to be there until [`forget`].
type UnpackedSet = HashSet<(PathBuf, String, String, String)>;
static UNPACKED: Mutex<Option<UnpackedSet>> = Mutex::new(None);

fn unpacked_key(conn: &Connection, image: &ResolvedImage, snapshotter: &str) -> (PathBuf, String, String, String) {
    (conn.socket().to_path_buf(), conn.namespace().to_string(), image.config_desc.digest.clone(), snapshotter.to_string())
}

/// The image's layers may be gone from `snapshotter` after all (a snapshot the caller
/// needed was missing): the next [`unpack_resolved`] checks again.
pub fn forget(conn: &Connection, image: &ResolvedImage, snapshotter: &str) {
    if let Some(set) = UNPACKED.lock().unwrap().as_mut() {
        set.remove(&unpacked_key(conn, image, snapshotter));
    }
}

/// Unpacks an already resolved image; returns its top chain id. An image this
/// process has unpacked (or found unpacked) before is not checked again (see
/// [`forget`]).
pub async fn unpack_resolved(conn: &Connection, image: &ResolvedImage, snapshotter: &str, progress: Progress<'_>) -> Result<String> {
    if let Some(top) = known_unpacked(conn, image, snapshotter)? {
        return Ok(top);
    }
    let mut unpacker = Unpacker::new(conn, image, snapshotter).await?;
    let lease = match unpacker.next_layer() {
        Some(_) => Some(Lease::acquire(conn, "unpack").await?),
        None => None,
    };
    let r = async {
        if let Some(lease) = &lease {
            while unpacker.next_layer().is_some() {
                unpacker.apply_next(lease, progress, async { Ok(None) }).await?;
            }
        }
        // From now on the image keeps its snapshots; only then may the lease end (the
        // collector may run as soon as it does).
        unpacker.finish().await
    }
    .await;
    if let Some(lease) = lease {
        lease.release().await;
    }
    r
}

/// The top chain id of `image` if this process knows it is unpacked in `snapshotter`;
/// INVALID_ARGUMENT for an image without layers.
fn known_unpacked(conn: &Connection, image: &ResolvedImage, snapshotter: &str) -> Result<Option<String>> {
    let Some(top) = chain_ids(&image.diff_ids).pop() else {
        return Err(Error::invalid(format!("image {} has no layers", image.name)));
    };
    let key = unpacked_key(conn, image, snapshotter);
    Ok(UNPACKED.lock().unwrap().as_ref().is_some_and(|s| s.contains(&key)).then_some(top))
}

/// Applies the layers of one image bottom first, each as soon as its caller hands it
/// on: [`unpack_resolved`] applies them one after the other; a pull applies each as
/// soon as its blob is in the content store, while later ones still download.
pub struct Unpacker<'a> {
    conn: &'a Connection,
    image: &'a ResolvedImage,
    snapshotter: &'a str,
    chains: Vec<String>,
    /// The lowest layer not committed yet (every one below it is).
    next: usize,
}

impl<'a> Unpacker<'a> {
    /// Finds what of `image` is unpacked already: one `Stat` of the top chain id and,
    /// when it is missing, of the lower ones at once. INVALID_ARGUMENT for an image
    /// without layers.
    pub async fn new(conn: &'a Connection, image: &'a ResolvedImage, snapshotter: &'a str) -> Result<Unpacker<'a>> {
        let chains = chain_ids(&image.diff_ids);
        let Some(top) = chains.last() else {
            return Err(Error::invalid(format!("image {} has no layers", image.name)));
        };
        let next = if exists(conn, snapshotter, top).await? {
            chains.len()
        } else {
            // A chain id commits its parents with it: the highest one there is the base.
            let below = &chains[..chains.len() - 1];
            let found = futures_util::future::try_join_all(below.iter().map(|c| exists(conn, snapshotter, c))).await?;
            found.iter().rposition(|&there| there).map_or(0, |i| i + 1)
        };
        Ok(Unpacker { conn, image, snapshotter, chains, next })
    }

    /// The index of the next layer to apply (the number of layers when all are there).
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// The next layer to apply (`None` when all are there).
    pub fn next_layer(&self) -> Option<&'a CtrDescriptor> {
        self.image.layers.get(self.next)
    }

    /// Applies the next layer under `lease` once `ready` says its blob is in the
    /// content store (its snapshot is prepared meanwhile), reporting `extracting` as
    /// it starts and ends. When `ready` gives the layer's uncompressed blob, that one
    /// is applied (and deleted afterwards if the pull made it).
    pub async fn apply_next(
        &mut self,
        lease: &Lease,
        progress: Progress<'_>,
        ready: impl std::future::Future<Output = Result<Option<Inflated>>>,
    ) -> Result<()> {
        let (i, image) = (self.next, self.image);
        let Some(layer) = image.layers.get(i) else { return Ok(()) };
        let parent = if i == 0 { "" } else { self.chains[i - 1].as_str() };
        let report = |current: u64| {
            if let Some(p) = progress {
                p(ProgressEvent {
                    reference: image.name.clone(),
                    digest: layer.digest.clone(),
                    status: "extracting".into(),
                    current,
                    total: layer.size.max(0) as u64,
                });
            }
        };
        let ready = async {
            let inflated = ready.await?;
            report(0);
            Ok(inflated)
        };
        apply_layer(self.conn, lease, layer, &image.diff_ids[i], parent, &self.chains[i], self.snapshotter, ready)
            .await
            .map_err(|e| e.context(format!("image {}: layer {}", image.name, layer.digest)))?;
        set_blob_label(self.conn, &layer.digest, UNCOMPRESSED_LABEL, &image.diff_ids[i]).await?;
        self.next += 1;
        report(layer.size.max(0) as u64);
        Ok(())
    }

    /// Every layer is there: labels the config blob with the top snapshot (so that
    /// containerd's collector keeps the snapshots as long as the image), remembers the
    /// image as unpacked and returns the top chain id.
    pub async fn finish(self) -> Result<String> {
        if self.next < self.chains.len() {
            return Err(Error::internal(format!("image {}: unpack finished with layers missing", self.image.name)));
        }
        let top = self.chains[self.chains.len() - 1].clone();
        let key = format!("{GC_REF_SNAPSHOT}{}", self.snapshotter);
        set_blob_label(self.conn, &self.image.config_desc.digest, &key, &top).await?;
        let mut set = UNPACKED.lock().unwrap();
        let set = set.get_or_insert_with(HashSet::new);
        if set.len() >= 256 {
            set.clear();
        }
        set.insert(unpacked_key(self.conn, self.image, self.snapshotter));
        Ok(top)
    }
}

/// Prepare → Apply → Commit of one layer as snapshot `chain` over `parent`; the
/// snapshot is prepared while `ready` waits for the layer's blob (or gives its
/// uncompressed blob to apply instead).
#[allow(clippy::too_many_arguments)]
async fn apply_layer(
    conn: &Connection,
    lease: &Lease,
    layer: &CtrDescriptor,
    diff_id: &str,
    parent: &str,
    chain: &str,
    snapshotter: &str,
    ready: impl std::future::Future<Output = Result<Option<Inflated>>>,
) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let key = format!("extract-{}-{} {chain}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let prep = PrepareSnapshotRequest { snapshotter: snapshotter.into(), key: key.clone(), parent: parent.into(), labels: HashMap::new() };
    let mounts = conn
        .snapshots()
        .prepare(lease.request(prep))
        .await
        .map_err(|s| Error::from_status(format!("prepare snapshot over {}", if parent.is_empty() { "nothing" } else { parent }), &s))?
        .into_inner()
        .mounts;
    let mut inflated = None;
    let applied = async {
        inflated = ready.await?;
        let diff = inflated.as_ref().map_or_else(|| layer.clone(), |i| i.desc.clone());
        let req = ApplyRequest { diff: Some(diff), mounts, payloads: HashMap::new(), sync_fs: false };
        let applied = conn
            .diff()
            .apply(lease.request_with_timeout(req, Some(APPLY_TIMEOUT)))
            .await
            .map_err(|s| match s.code() {
                tonic::Code::NotFound => Error::not_found(format!("apply layer: its blob is not in the content store: {}", s.message())),
                _ => Error::from_status("apply layer", &s),
            })?
            .into_inner()
            .applied
            .ok_or_else(|| Error::internal("containerd applied the layer but returned no descriptor"))?;
        if applied.digest != diff_id {
            return Err(Error::new(Code::Io, format!("layer {} unpacks to {}, but the image config says {diff_id}", layer.digest, applied.digest)));
        }
        let commit = CommitSnapshotRequest { snapshotter: snapshotter.into(), name: chain.into(), key: key.clone(), labels: HashMap::new() };
        match conn.snapshots().commit(lease.request(commit)).await {
            Ok(_) => Ok(true),
            // Unpacked meanwhile by someone else: theirs is as good.
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(false),
            Err(s) => Err(Error::from_status(format!("commit snapshot {chain}"), &s)),
        }
    }
    .await;
    if let Some(i) = &inflated {
        super::inflate::discard(conn, i);
    }
    if applied.as_ref().is_ok_and(|committed| *committed) {
        return Ok(());
    }
    let rm = RemoveSnapshotRequest { snapshotter: snapshotter.into(), key: key.clone() };
    if let Err(s) = conn.snapshots().remove(conn.request(rm)).await {
        log::warn!("remove snapshot {key:?}: {}", s.message());
    }
    applied.map(|_| ())
}

/// Sets one label on a blob of the content store.
async fn set_blob_label(conn: &Connection, digest: &str, key: &str, value: &str) -> Result<()> {
    let info = ContentInfo { digest: digest.into(), labels: HashMap::from([(key.to_string(), value.to_string())]), ..Default::default() };
    let req = UpdateRequest { info: Some(info), update_mask: Some(prost_types::FieldMask { paths: vec![format!("labels.{key}")] }) };
    conn.call(req, |c, r| async move { c.content().update(c.request(r)).await })
        .await
        .map(|_| ())
        .map_err(|s| Error::from_status(format!("label blob {digest}"), &s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        // Values computed independently with `printf '%s %s' "$prev" "$diff" | sha256sum`.
        let d: Vec<String> = ["a", "b", "c"].iter().map(|c| format!("sha256:{}", c.repeat(64))).collect();
        assert_eq!(
            chain_ids(&d),
            vec![
                d[0].clone(),
                "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c".to_string(),
                "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588".to_string(),
            ]
        );
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn progress_json_has_the_contract_keys() {
        let e = ProgressEvent { reference: "r".into(), digest: "d".into(), status: "extracting".into(), current: 1, total: 2 };
        assert_eq!(serde_json::to_value(&e).unwrap(), serde_json::json!({"ref": "r", "digest": "d", "status": "extracting", "current": 1, "total": 2}));
    }
}
