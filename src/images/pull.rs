//! Pulling from an OCI distribution registry (through the `oci-client` crate): resolve
//! the reference, choose the platform from an index, stream blobs into containerd's
//! content store under a lease (several at once) while the layers already in are
//! unpacked (each as soon as it and the ones below it are in), then register the image.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio_stream::StreamExt;

use containerd_client::services::v1::Image;

use super::config::{self, ResolvedImage};
use super::content::{self, BlobTarget};
use super::inflate::{self, Inflated};
use super::lease::Lease;
use super::manifest::{self, Descriptor, Manifest, Platform};
use super::progress::{Reporter, Status};
use super::reference::Reference;
use super::store;
use super::tls;
use super::unpack::{self, Unpacker};
use crate::error::{with_sources, Code, Error, Result};
use crate::remote::connection::Connection;

/// Default number of blobs downloaded at once.
pub const DEFAULT_CONCURRENT_DOWNLOADS: u32 = 3;
/// Most blobs downloaded at once.
const MAX_CONCURRENT_DOWNLOADS: u32 = 32;

/// Options of a pull (all optional; JSON keys as named here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullOptions {
    /// `os/arch[/variant]`; default the host's.
    pub platform: Option<String>,
    /// Snapshotter to unpack into; default `overlayfs`.
    pub snapshotter: Option<String>,
    /// Unpack the layers after the pull; default true.
    pub unpack: Option<bool>,
    /// Registry hosts (`host[:port]`) reached over plain HTTP.
    pub plain_http: Option<Vec<String>>,
    /// A PEM bundle trusted for the registry's TLS besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Credentials.
    pub auth: Option<Auth>,
    /// Blobs downloaded at once; default 3.
    pub max_concurrent_downloads: Option<u32>,
    /// With unpacking, gzip layers above the first one applied are decompressed by the
    /// library as they download, so that containerd's applier only untars them (see
    /// [`super::inflate`]); default true. False leaves the decompression to containerd
    /// (less written to the content store, a longer unpacking chain).
    pub library_decompression: Option<bool>,
}

/// Registry credentials: a user name and password, or a bearer token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// User name (with `password`).
    pub username: Option<String>,
    /// Password (with `username`).
    pub password: Option<String>,
    /// A registry token.
    pub token: Option<String>,
}

impl PullOptions {
    /// Checks the options (before anything is fetched).
    pub fn validate(&self) -> Result<()> {
        if let Some(p) = &self.platform {
            Platform::parse(p)?;
        }
        if let Some(s) = &self.snapshotter {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
                return Err(Error::invalid(format!("invalid snapshotter {s:?}")));
            }
        }
        if let Some(n) = self.max_concurrent_downloads {
            if n == 0 || n > MAX_CONCURRENT_DOWNLOADS {
                return Err(Error::invalid(format!("max_concurrent_downloads must be 1..={MAX_CONCURRENT_DOWNLOADS}, not {n}")));
            }
        }
        self.registry_auth().map(|_| ())
    }

    /// The platform to pull.
    pub fn platform(&self) -> Result<Platform> {
        self.platform.as_deref().map_or_else(|| Ok(Platform::host()), Platform::parse)
    }

    /// The snapshotter to unpack into.
    pub fn snapshotter(&self) -> &str {
        self.snapshotter.as_deref().unwrap_or("overlayfs")
    }

    fn registry_auth(&self) -> Result<RegistryAuth> {
        match &self.auth {
            None => Ok(RegistryAuth::Anonymous),
            Some(Auth { username: Some(u), password: Some(p), token: None }) => Ok(RegistryAuth::Basic(u.clone(), p.clone())),
            Some(Auth { username: None, password: None, token: Some(t) }) => Ok(RegistryAuth::Bearer(t.clone())),
            Some(_) => Err(Error::invalid("auth takes either username and password, or token")),
        }
    }

    fn client(&self) -> Result<oci_client::Client> {
        let ca = match &self.ca_file {
            Some(path) => tls::ca_bundle(path)?,
            None => Vec::new(),
        };
        tls::client(ca, |extra| ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.plain_http.clone().unwrap_or_default()),
            extra_root_certificates: extra,
            platform_resolver: None,
            max_concurrent_download: self.max_concurrent_downloads.unwrap_or(DEFAULT_CONCURRENT_DOWNLOADS) as usize,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        })
    }
}

/// Maps a registry client error; `what` says what was being fetched.
fn registry_error(what: &str, e: OciDistributionError) -> Error {
    use OciDistributionError as E;
    let code = match &e {
        E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => Code::PermissionDenied,
        E::ImageManifestNotFoundError(_) => Code::NotFound,
        E::RegistryError { envelope, .. } => match envelope.errors.first().map(|x| &x.code) {
            Some(OciErrorCode::Unauthorized | OciErrorCode::Denied) => Code::PermissionDenied,
            Some(
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown | OciErrorCode::NotFound,
            ) => Code::NotFound,
            Some(OciErrorCode::Toomanyrequests) => Code::Unavailable,
            Some(OciErrorCode::NameInvalid | OciErrorCode::TagInvalid) => Code::InvalidArgument,
            _ => Code::Io,
        },
        E::ServerError { code: 401 | 403, .. } => Code::PermissionDenied,
        E::ServerError { code: 404, .. } => Code::NotFound,
        E::ServerError { code: 429 | 500..=599, .. } => Code::Unavailable,
        E::RequestError(r) if r.is_connect() => Code::Unavailable,
        E::RequestError(r) if r.is_timeout() => Code::DeadlineExceeded,
        E::UnsupportedMediaTypeError(_) | E::UnsupportedSchemaVersionError(_) => Code::Unsupported,
        _ => Code::Io,
    };
    Error::new(code, format!("{what}: {}", with_sources(&e)))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Fetches the manifest or index `object` (a tag or digest) of `reference` and checks
/// it: by digest, the bytes must have that digest (and `size`, when known).
async fn fetch_manifest(
    client: &oci_client::Client,
    auth: &RegistryAuth,
    reference: &Reference,
    want: Option<(&str, Option<i64>)>,
) -> Result<(Vec<u8>, String)> {
    let oref = match want {
        Some((d, _)) => oci_client::Reference::with_digest(reference.registry.clone(), reference.repository.clone(), d.to_string()),
        None => match &reference.digest {
            Some(d) => oci_client::Reference::with_digest(reference.registry.clone(), reference.repository.clone(), d.clone()),
            None => oci_client::Reference::with_tag(reference.registry.clone(), reference.repository.clone(), reference.object().to_string()),
        },
    };
    let (bytes, _) = client
        .pull_manifest_raw(&oref, auth, manifest::ACCEPTED)
        .await
        .map_err(|e| registry_error(&format!("manifest of {reference}"), e))?;
    if bytes.len() as u64 > manifest::MAX_DOCUMENT {
        return Err(Error::invalid(format!("manifest of {reference} is larger than {} bytes", manifest::MAX_DOCUMENT)));
    }
    let digest = sha256(&bytes);
    let expected = want.map(|w| w.0).or(reference.digest.as_deref());
    if let Some(d) = expected {
        if d != digest {
            return Err(Error::new(Code::Io, format!("manifest {d} of {reference}: content digest is {digest}")));
        }
    }
    if let Some((d, Some(size))) = want {
        if size != bytes.len() as i64 {
            return Err(Error::new(Code::Io, format!("manifest {d} of {reference}: {} bytes, its descriptor gives {size}", bytes.len())));
        }
    }
    Ok((bytes.to_vec(), digest))
}

/// Writes a document fetched whole (a manifest or index) into the content store.
async fn write_document(lease: &Lease, reporter: &Reporter, desc: &Descriptor, bytes: Vec<u8>, labels: HashMap<String, String>, source: &str) -> Result<()> {
    let mut progress = reporter.download(&desc.digest, desc.size as u64);
    let target = BlobTarget { digest: &desc.digest, size: Some(desc.size as u64), labels, source, verified: false };
    let data = tokio_stream::iter([Ok(bytes::Bytes::from(bytes))]);
    content::write_blob(lease, target, data, Some(&mut progress)).await.map(|_| ())
}

/// Pulls `reference` into containerd's content store and images service, reporting
/// progress through `reporter`; the record is named by the normalised reference.
/// With `unpack_into` (a snapshotter), each layer is unpacked into it as soon as its
/// blob and every lower layer are in, while later blobs still download; the image is
/// registered only once all of it is there. `unpack_into`: `Some(None)` unpacks into
/// the default snapshotter (see [`unpack::snapshotter_for`]).
pub async fn pull(conn: &Connection, reference: &Reference, options: &PullOptions, unpack_into: Option<Option<&str>>, reporter: &Reporter) -> Result<Pulled> {
    options.validate()?;
    let platform = options.platform()?;
    let auth = options.registry_auth()?;
    // The registry client (its TLS set-up reads the system's roots) is built on a
    // thread of its own while containerd is asked which snapshotter to use.
    let building = tokio::task::spawn_blocking({
        let options = options.clone();
        move || options.client()
    });
    let snapshotter = async {
        match unpack_into {
            Some(requested) => unpack::snapshotter_for(conn, requested).await.map(Some),
            None => Ok(None),
        }
    };
    let (client, snapshotter) = tokio::join!(building, snapshotter);
    let client = Arc::new(client.map_err(|e| Error::internal(format!("build the registry client: {e}")))??);
    let snapshotter = snapshotter?;
    let source = format!("registry {}", reference.registry);
    let name = reference.to_string();

    reporter.send("", Status::Resolving, 0, 0);
    // The lease is taken while the registry answers.
    let resolve = async {
        let (root_bytes, root_digest) = fetch_manifest(&client, &auth, reference, None).await?;
        let root = manifest::parse(&root_bytes, None)?;
        let root_desc = Descriptor {
            media_type: root.media_type().to_string(),
            digest: root_digest,
            size: root_bytes.len() as i64,
            platform: None,
            annotations: Default::default(),
        };
        // The platform's manifest (the root itself unless it is an index).
        let (man_desc, man_bytes, config, layers) = match &root {
            Manifest::Index { manifests, .. } => {
                let entry = manifest::select_platform(manifests, &platform)?.clone();
                let (bytes, _) = fetch_manifest(&client, &auth, reference, Some((&entry.digest, Some(entry.size)))).await?;
                match manifest::parse(&bytes, Some(&entry.media_type))? {
                    Manifest::Image { config, layers, media_type } => (Descriptor { media_type, ..entry }, bytes, config, layers),
                    Manifest::Index { .. } => return Err(Error::new(Code::Unsupported, format!("nested index {} in {name}", entry.digest))),
                }
            }
            Manifest::Image { config, layers, .. } => (root_desc.clone(), root_bytes.clone(), config.clone(), layers.clone()),
        };
        Ok((root_desc, root_bytes, man_desc, man_bytes, config, layers))
    };
    let (resolved, lease) = tokio::join!(resolve, Lease::acquire(conn, "pull"));
    let lease = lease?;
    let (root_desc, root_bytes, man_desc, man_bytes, config, layers) = match resolved {
        Ok(r) => r,
        Err(e) => {
            lease.release().await;
            return Err(e);
        }
    };
    reporter.send(&root_desc.digest, Status::Resolving, root_desc.size as u64, root_desc.size as u64);

    let result = async {
        let mut blobs = vec![config.clone()];
        blobs.extend(layers.iter().cloned());
        let (arrived, watch) = tokio::sync::watch::channel(HashMap::new());
        // The diff ids of the layers to apply, once the unpacking has read the config:
        // gzip layers are decompressed as they download (see `inflate`).
        let (diff_ids_tx, diff_ids) = tokio::sync::watch::channel(None);
        let decompress = snapshotter.is_some() && options.library_decompression.unwrap_or(true);
        let inflating = decompress.then_some(Inflating { layers: &layers, diff_ids });
        // The documents go in once their blobs are, while layers may still unpack.
        let fetch = async {
            fetch_blobs(conn, &lease, &client, reference, &blobs, options, reporter, &source, &arrived, inflating.as_ref()).await?;
            // The manifest refers to its config and layers; GC keeps them while it lives.
            let mut labels = HashMap::from([("containerd.io/gc.ref.content.config".to_string(), config.digest.clone())]);
            for (i, l) in layers.iter().enumerate() {
                labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), l.digest.clone());
            }
            write_document(&lease, reporter, &man_desc, man_bytes, labels, &source).await?;
            if root_desc.digest != man_desc.digest {
                let labels = HashMap::from([("containerd.io/gc.ref.content.m.0".to_string(), man_desc.digest.clone())]);
                write_document(&lease, reporter, &root_desc, root_bytes, labels, &source).await?;
            }
            Ok::<_, Error>(())
        };
        let unpack = async {
            match &snapshotter {
                Some(snapshotter) => {
                    let image = Parts { name: &name, manifest: &man_desc, config: &config, layers: &layers };
                    unpack_as_they_arrive(conn, &lease, image, snapshotter, watch, diff_ids_tx, reporter).await.map(Some)
                }
                None => Ok(None),
            }
        };
        let (_, unpacked) = tokio::try_join!(fetch, unpack)?;
        reporter.send(&man_desc.digest, Status::Done, man_desc.size as u64, man_desc.size as u64);
        let image = store::put(&lease, conn, &name, &root_desc, HashMap::new()).await?;
        // A container created from this image later needs no look-up of its content.
        if let (Some((resolved, _)), None) = (&unpacked, &options.platform) {
            config::remember(conn, &root_desc.digest, resolved);
        }
        Ok::<_, Error>((image, unpacked.map(|(_, blob)| blob)))
    }
    .await;
    lease.release().await;
    let (image, config_blob) = result?;
    Ok(Pulled { image, root: root_desc, manifest: man_desc, config, layers, config_blob })
}

/// A pulled image: its record and what the pull learnt of it.
pub struct Pulled {
    /// The record in the images service.
    pub image: Image,
    /// The record's target (an index or the manifest).
    pub root: Descriptor,
    /// The platform's manifest.
    pub manifest: Descriptor,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// The config's bytes, when the pull read them (to unpack).
    pub config_blob: Option<Vec<u8>>,
}

/// What of a pulled image its unpacking needs.
struct Parts<'a> {
    name: &'a str,
    manifest: &'a Descriptor,
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

/// Blobs in the content store: each with its uncompressed blob, when one was made.
type Arrived = HashMap<String, Option<Inflated>>;

/// Diff ids of the layers a pull applies, by layer index (`None`: not applied).
type DiffIds = Option<Arc<Vec<Option<String>>>>;

/// What the downloads need to decompress the layers of a pull that unpacks.
struct Inflating<'a> {
    layers: &'a [Descriptor],
    /// Set by the unpacking once it knows which layers it applies.
    diff_ids: tokio::sync::watch::Receiver<DiffIds>,
}

impl Inflating<'_> {
    /// Whether blob `b` may be decompressed as it downloads: a gzip layer other than the
    /// bottom one (that one is applied first, from its compressed blob, and its
    /// download must not wait for the config to decide).
    fn may_inflate(&self, b: &Descriptor) -> bool {
        inflate::is_gzip(&b.media_type) && self.layers.first().is_some_and(|l| l.digest != b.digest)
    }

    /// The diff id of layer `digest` if it is to be applied; `None` otherwise, or when
    /// the unpacking stopped before saying.
    async fn diff_id(&self, digest: &str) -> Option<String> {
        let i = self.layers.iter().position(|l| l.digest == digest)?;
        let mut rx = self.diff_ids.clone();
        let ids = rx.wait_for(|ids| ids.is_some()).await.ok()?.clone()?;
        ids.get(i).cloned().flatten()
    }
}

/// Unpacks a pulled image into `snapshotter` under `lease` while its blobs download:
/// reads the config once it is in, says through `diff_ids` which layers it will apply,
/// then applies each layer as soon as its blob is in (`arrived` names the blobs in the
/// content store). Returns the image resolved and its config's bytes.
async fn unpack_as_they_arrive(
    conn: &Connection,
    lease: &Lease,
    image: Parts<'_>,
    snapshotter: &str,
    mut arrived: tokio::sync::watch::Receiver<Arrived>,
    diff_ids: tokio::sync::watch::Sender<DiffIds>,
    reporter: &Reporter,
) -> Result<(ResolvedImage, Vec<u8>)> {
    arrival(&mut arrived, &image.config.digest).await?;
    let blob = content::read_blob(conn, &image.config.digest, config::MAX_METADATA_BLOB).await?;
    let layers = image.layers.iter().map(store::proto).collect();
    let resolved = ResolvedImage::from_config(image.name, image.manifest.digest.clone(), store::proto(image.config), &blob, layers)?;
    let forward = |e: unpack::ProgressEvent| reporter.send(&e.digest, Status::Extracting, e.current, e.total);
    let mut unpacker = Unpacker::new(conn, &resolved, snapshotter).await?;
    // The first layer applied is left compressed: nothing is applied before it for its
    // decompression to overlap with.
    let first = unpacker.next_index();
    let ids = resolved.diff_ids.iter().enumerate().map(|(i, d)| (i > first).then(|| d.clone())).collect();
    diff_ids.send_replace(Some(Arc::new(ids)));
    while let Some(layer) = unpacker.next_layer() {
        unpacker.apply_next(lease, Some(&forward), arrival(&mut arrived, &layer.digest)).await?;
    }
    unpacker.finish().await?;
    Ok((resolved, blob))
}

/// Waits until blob `digest` is in the content store; returns its uncompressed blob
/// when the download made one.
async fn arrival(arrived: &mut tokio::sync::watch::Receiver<Arrived>, digest: &str) -> Result<Option<Inflated>> {
    arrived
        .wait_for(|s| s.contains_key(digest))
        .await
        .map(|s| s.get(digest).cloned().flatten())
        .map_err(|_| Error::internal(format!("the downloads ended without blob {digest}")))
}

/// Downloads `blobs` not yet in the content store, at most
/// `max_concurrent_downloads` at once; the first failure cancels the others. Each blob
/// is added to `arrived` once it is in the content store; with `inflating`, a gzip
/// layer to be applied is also decompressed into its uncompressed blob as it comes.
#[allow(clippy::too_many_arguments)]
async fn fetch_blobs(
    conn: &Connection,
    lease: &Lease,
    client: &Arc<oci_client::Client>,
    reference: &Reference,
    blobs: &[Descriptor],
    options: &PullOptions,
    reporter: &Reporter,
    source: &str,
    arrived: &tokio::sync::watch::Sender<Arrived>,
    inflating: Option<&Inflating<'_>>,
) -> Result<()> {
    let mut unique: Vec<&Descriptor> = Vec::new();
    for b in blobs {
        if !unique.iter().any(|t| t.digest == b.digest) {
            unique.push(b);
        }
    }
    let known = futures_util::future::try_join_all(unique.iter().map(|b| content::info(conn, &b.digest))).await?;
    let mut todo = Vec::new();
    for (b, info) in unique.into_iter().zip(known) {
        if info.is_some() {
            lease.add_content(&b.digest).await?;
            reporter.send(&b.digest, Status::Exists, b.size as u64, b.size as u64);
            arrived.send_modify(|s| {
                s.insert(b.digest.clone(), None);
            });
        } else {
            reporter.send(&b.digest, Status::Waiting, 0, b.size as u64);
            todo.push(b.clone());
        }
    }
    let limit = options.max_concurrent_downloads.unwrap_or(DEFAULT_CONCURRENT_DOWNLOADS) as usize;
    let oref = oci_client::Reference::with_tag(reference.registry.clone(), reference.repository.clone(), reference.object().to_string());
    let one = |b: Descriptor| {
        let client = client.clone();
        let oref = oref.clone();
        async move {
            let desc = OciDescriptor { media_type: b.media_type.clone(), digest: b.digest.clone(), size: b.size, ..Default::default() };
            let what = format!("blob {} from {source}", b.digest);
            let stream = client.pull_blob_stream(&oref, &desc).await.map_err(|e| registry_error(&what, e))?;
            let data = stream.map(|r| r.map_err(|e| Error::new(Code::Io, format!("{what}: {e}"))));
            let mut progress = reporter.download(&b.digest, b.size as u64);
            progress.update(0);
            // The registry client checks the digest of what it streams.
            let target = BlobTarget { digest: &b.digest, size: Some(b.size as u64), labels: HashMap::new(), source, verified: true };
            let inflated = match inflating.filter(|i| i.may_inflate(&b)) {
                Some(inflating) => {
                    let (feed, inflated) = inflate::start(lease, inflating.diff_id(&b.digest), source);
                    let (written, inflated) = tokio::join!(content::write_blob(lease, target, feed.tee(data), Some(&mut progress)), inflated);
                    written?;
                    inflated
                }
                None => {
                    content::write_blob(lease, target, data, Some(&mut progress)).await?;
                    None
                }
            };
            reporter.send(&b.digest, Status::Done, b.size as u64, b.size as u64);
            arrived.send_modify(|s| {
                s.insert(b.digest.clone(), inflated);
            });
            Ok::<_, Error>(())
        }
    };
    // Run up to `limit` downloads at once, in the order given.
    let mut pending = todo.into_iter();
    let mut running = futures_unordered();
    loop {
        while running.len() < limit {
            match pending.next() {
                Some(b) => running.push(Box::pin(one(b))),
                None => break,
            }
        }
        match running.next().await {
            Some(r) => r?,
            None => return Ok(()),
        }
    }
}

fn futures_unordered<F>() -> futures_util::stream::FuturesUnordered<F> {
    futures_util::stream::FuturesUnordered::new()
}
