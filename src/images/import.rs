//! Importing image archives without a registry: OCI image layouts (as `skopeo copy …
//! oci-archive:` writes them) and `docker save` files. Blobs go straight from the
//! archive into containerd's content store under a lease, checked against their
//! descriptors; nothing is written anywhere else.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use serde::Deserialize;

use super::archive::{self, ArchiveIndex};
use super::content::{self, BlobTarget};
use super::lease::Lease;
use super::manifest::{self, Descriptor, ImageConfig, Manifest};
use super::progress::Reporter;
use super::reference::Reference;
use super::store;
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;

/// Options of an import (JSON keys as named here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// The name to give the archive's single image (a reference).
    pub name: Option<String>,
}

/// The OCI annotation naming an image in a layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation giving an image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An archive open for import.
struct Source<'a> {
    file: File,
    index: ArchiveIndex,
    name: &'a str,
}

impl Source<'_> {
    fn invalid(&self, why: impl std::fmt::Display) -> Error {
        Error::invalid(format!("archive {}: {why}", self.name))
    }

    fn extent(&self, path: &str) -> Result<archive::Extent> {
        self.index.lookup(path).map_err(|e| self.invalid(e))
    }

    fn read(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        let e = self.extent(path)?;
        archive::read_all(&self.file, e, max, &format!("archive {}: {path}", self.name))
    }

    /// The path of an OCI layout blob.
    fn blob_path(&self, digest: &str) -> Result<String> {
        super::reference::check_digest(digest).map_err(|e| self.invalid(e))?;
        let (alg, hex) = digest.split_once(':').unwrap_or_default();
        Ok(format!("blobs/{alg}/{hex}"))
    }

    /// Streams a blob into the content store as `desc` describes it; the size of an
    /// archive file must match before anything is read.
    async fn write(&self, conn: &Connection, lease: &Lease, blob: &Blob, reporter: &Reporter) -> Result<()> {
        let Blob { from, desc, labels } = blob;
        if content::info(conn, &desc.digest).await?.is_some() && labels.is_empty() {
            return lease.add_content(&desc.digest).await;
        }
        let source = format!("archive {}", self.name);
        let mut progress = reporter.download(&desc.digest, desc.size as u64);
        let target = BlobTarget { digest: &desc.digest, size: Some(desc.size as u64), labels: labels.clone(), source: &source, verified: false };
        let written = match from {
            BlobSource::Archive(path) => {
                let e = self.extent(path)?;
                if e.size != desc.size as u64 {
                    return Err(self.invalid(format!("{path} has {} bytes, its descriptor {} says {}", e.size, desc.digest, desc.size)));
                }
                let data = archive::stream(&self.file, e, format!("{source}: {path}"))?;
                content::write_blob(lease, target, data, Some(&mut progress)).await
            }
            BlobSource::Generated(bytes) => {
                let data = tokio_stream::iter([Ok(bytes::Bytes::from(bytes.clone()))]);
                content::write_blob(lease, target, data, Some(&mut progress)).await
            }
        };
        written.map(|_| ()).map_err(|e| match e.code() {
            // The archive's bytes are not what its descriptor says: a malformed archive.
            Code::Io if e.message().contains(&desc.digest) => Error::invalid(e.message().to_string()),
            _ => e,
        })
    }
}

/// Where a blob's bytes come from.
enum BlobSource {
    /// A file of the archive.
    Archive(String),
    /// A document the library made (the manifest `docker save` leaves out).
    Generated(Vec<u8>),
}

/// A blob to write, with its GC labels.
struct Blob {
    from: BlobSource,
    desc: Descriptor,
    labels: HashMap<String, String>,
}

/// Imports the archive at `path`; returns the names of the images it registered.
pub async fn import(conn: &Connection, path: &Path, options: &ImportOptions) -> Result<Vec<String>> {
    let rename = options.name.as_deref().map(Reference::parse).transpose()?;
    let display = path.display().to_string();
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::not_found(format!("archive {display}: {e}")),
        _ => Error::io(format!("archive {display}"), e),
    })?;
    if !file.metadata().map_err(|e| Error::io(&display, e))?.is_file() {
        return Err(Error::invalid(format!("archive {display}: not a regular file")));
    }
    let index = ArchiveIndex::read(&file, &display)?;
    let src = Source { file, index, name: &display };
    // Everything is checked and described before the first write.
    let images = if src.index.contains("index.json") {
        plan_oci(&src)?
    } else if src.index.contains("manifest.json") {
        plan_docker(&src)?
    } else {
        return Err(src.invalid("neither an OCI image layout (index.json) nor a docker save archive (manifest.json)"));
    };
    let images = name_images(&src, images, rename)?;
    let reporter = Reporter::new(&display, None);
    let lease = Lease::acquire(conn, "import").await?;
    let result = async {
        let mut names = Vec::new();
        for img in &images {
            for blob in &img.blobs {
                src.write(conn, &lease, blob, &reporter).await?;
            }
        }
        for img in &images {
            store::put(&lease, conn, &img.name, &img.target, HashMap::new()).await?;
            names.push(img.name.clone());
        }
        Ok::<_, Error>(names)
    }
    .await;
    lease.release().await;
    reporter.finish();
    result
}

/// One image to register: its blobs in write order (children before parents), each
/// with the archive path it comes from and its GC labels, then its record.
struct Planned {
    name: String,
    target: Descriptor,
    blobs: Vec<Blob>,
}

/// Gives each planned image its name: `rename` for an archive of one image.
fn name_images(src: &Source, planned: Vec<(Option<String>, Planned)>, rename: Option<Reference>) -> Result<Vec<Planned>> {
    if let Some(r) = rename {
        if planned.len() != 1 {
            return Err(src.invalid(format!("option name renames a single image; the archive has {}", planned.len())));
        }
        let (_, mut p) = planned.into_iter().next().unwrap();
        p.name = r.to_string();
        return Ok(vec![p]);
    }
    let mut out = Vec::new();
    for (name, mut p) in planned {
        let Some(name) = name else {
            return Err(src.invalid("an image without a name (give option name)"));
        };
        p.name = Reference::parse(&name).map_err(|e| src.invalid(e.message()))?.to_string();
        out.push(p);
    }
    if out.is_empty() {
        return Err(src.invalid("no images"));
    }
    Ok(out)
}

/// Collects the blobs under `desc` (a manifest or index) in the OCI layout, children
/// first, each parent labelled with GC references to its children. Manifests of an
/// index that the layout does not hold are left out (another platform's).
fn collect_oci(src: &Source, desc: &Descriptor, depth: usize, out: &mut Vec<Blob>) -> Result<()> {
    if depth > 4 {
        return Err(src.invalid("indexes nested too deep"));
    }
    let path = src.blob_path(&desc.digest)?;
    let bytes = src.read(&path, manifest::MAX_DOCUMENT)?;
    if bytes.len() as i64 != desc.size {
        return Err(src.invalid(format!("{path}: {} bytes, its descriptor says {}", bytes.len(), desc.size)));
    }
    let doc = manifest::parse(&bytes, Some(&desc.media_type)).map_err(|e| src.invalid(e.message()))?;
    let mut labels = HashMap::new();
    match &doc {
        Manifest::Index { manifests, .. } => {
            let mut n = 0;
            for m in manifests {
                if !src.index.contains(&src.blob_path(&m.digest)?) {
                    continue;
                }
                collect_oci(src, m, depth + 1, out)?;
                labels.insert(format!("containerd.io/gc.ref.content.m.{n}"), m.digest.clone());
                n += 1;
            }
            if n == 0 {
                return Err(src.invalid(format!("index {} holds none of its manifests", desc.digest)));
            }
        }
        Manifest::Image { config, layers, .. } => {
            for (i, d) in std::iter::once(config).chain(layers).enumerate() {
                let p = src.blob_path(&d.digest)?;
                out.push(Blob { from: BlobSource::Archive(p), desc: d.clone(), labels: HashMap::new() });
                let key = if i == 0 { "containerd.io/gc.ref.content.config".to_string() } else { format!("containerd.io/gc.ref.content.l.{}", i - 1) };
                labels.insert(key, d.digest.clone());
            }
        }
    }
    let desc = Descriptor { media_type: doc.media_type().to_string(), platform: None, annotations: Default::default(), ..desc.clone() };
    out.push(Blob { from: BlobSource::Archive(path), desc, labels });
    Ok(())
}

fn plan_oci(src: &Source) -> Result<Vec<(Option<String>, Planned)>> {
    if !src.index.contains("oci-layout") {
        return Err(src.invalid("index.json without oci-layout"));
    }
    let bytes = src.read("index.json", manifest::MAX_DOCUMENT)?;
    let Manifest::Index { manifests, .. } = manifest::parse(&bytes, Some(manifest::OCI_INDEX)).map_err(|e| src.invalid(e.message()))? else {
        return Err(src.invalid("index.json is not an image index"));
    };
    let mut out = Vec::new();
    for m in &manifests {
        let name = m.annotations.get(CONTAINERD_NAME).or_else(|| m.annotations.get(REF_NAME)).cloned();
        let mut blobs = Vec::new();
        collect_oci(src, m, 0, &mut blobs)?;
        let target = blobs.last().map(|b| b.desc.clone()).ok_or_else(|| src.invalid("empty image"))?;
        out.push((name, Planned { name: String::new(), target, blobs }));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn plan_docker(src: &Source) -> Result<Vec<(Option<String>, Planned)>> {
    let bytes = src.read("manifest.json", manifest::MAX_DOCUMENT)?;
    let entries: Vec<DockerEntry> = serde_json::from_slice(&bytes).map_err(|e| src.invalid(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let what = |p: &str| format!("archive {}: {p}", src.name);
        let cext = src.extent(&e.config)?;
        let config_bytes = archive::read_all(&src.file, cext, manifest::MAX_DOCUMENT, &what(&e.config))?;
        let config = ImageConfig::parse(&config_bytes).map_err(|x| src.invalid(format!("{}: {}", e.config, x.message())))?;
        let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        if diff_ids.len() != e.layers.len() {
            return Err(src.invalid(format!("{} lists {} layers, its config {}", "manifest.json", e.layers.len(), diff_ids.len())));
        }
        let config_desc = Descriptor {
            media_type: manifest::DOCKER_CONFIG.into(),
            digest: archive::digest(&src.file, cext, &what(&e.config))?,
            size: cext.size as i64,
            platform: None,
            annotations: Default::default(),
        };
        let mut blobs = vec![Blob { from: BlobSource::Archive(e.config.clone()), desc: config_desc.clone(), labels: HashMap::new() }];
        let mut layers = Vec::new();
        for (l, diff_id) in e.layers.iter().zip(&diff_ids) {
            let ext = src.extent(l)?;
            let digest = archive::digest(&src.file, ext, &what(l))?;
            let head = archive::read_all(&src.file, archive::Extent { offset: ext.offset, size: ext.size.min(2) }, 2, &what(l))?;
            let gzip = head == [0x1f, 0x8b];
            if !gzip && &digest != diff_id {
                return Err(src.invalid(format!("{l}: digest {digest}, the config's diff_id is {diff_id}")));
            }
            let media_type = if gzip { manifest::DOCKER_LAYER_GZIP } else { manifest::DOCKER_LAYER };
            let d = Descriptor { media_type: media_type.into(), digest, size: ext.size as i64, platform: None, annotations: Default::default() };
            blobs.push(Blob { from: BlobSource::Archive(l.clone()), desc: d.clone(), labels: HashMap::new() });
            layers.push(d);
        }
        // The schema 2 manifest `docker save` leaves out, written by the library.
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest::DOCKER_MANIFEST,
            "config": config_desc,
            "layers": layers,
        });
        let doc = serde_json::to_vec(&doc).map_err(|e| Error::internal(e.to_string()))?;
        let mut labels = HashMap::from([("containerd.io/gc.ref.content.config".to_string(), config_desc.digest.clone())]);
        for (i, l) in layers.iter().enumerate() {
            labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), l.digest.clone());
        }
        let target = Descriptor {
            media_type: manifest::DOCKER_MANIFEST.into(),
            digest: format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&doc))),
            size: doc.len() as i64,
            platform: None,
            annotations: Default::default(),
        };
        blobs.push(Blob { from: BlobSource::Generated(doc), desc: target.clone(), labels });
        let names = e.repo_tags.unwrap_or_default();
        let mut first = true;
        for n in names.iter().map(Some).chain(names.is_empty().then_some(None)) {
            let b = if first { std::mem::take(&mut blobs) } else { Vec::new() };
            first = false;
            out.push((n.cloned(), Planned { name: String::new(), target: target.clone(), blobs: b }));
        }
    }
    Ok(out)
}
