//! An image as containerd holds it: its record (images service) → the host platform's
//! manifest (through an index if it is one) → the image config, read from the content
//! store; and the config's process defaults applied to a container's OCI spec the way
//! the Go client's `oci.WithImageConfig` does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use containerd_client::services::v1::GetImageRequest;
use containerd_client::types::Descriptor as CtrDescriptor;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde_json::{Map, Value};

use super::content;
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;

/// Largest manifest, index or config the library reads (they are small JSON documents;
/// anything bigger is refused rather than buffered).
pub const MAX_METADATA_BLOB: u64 = 16 << 20;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// How deep indexes may nest before the image is refused.
const MAX_INDEX_DEPTH: usize = 4;

/// An image resolved to what a container of this host needs.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The image's name in the images service.
    pub name: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The config blob.
    pub config_desc: CtrDescriptor,
    /// The parsed config.
    pub config: ImageConfiguration,
    /// The layers, bottom first (compressed blobs as stored).
    pub layers: Vec<CtrDescriptor>,
    /// The config's `rootfs.diff_ids` (uncompressed digests), one per layer.
    pub diff_ids: Vec<String>,
}

/// The host's platform as OCI names it: (`os`, `architecture`, `variant`).
pub fn host_platform() -> (&'static str, &'static str, Option<&'static str>) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    let variant = match arch {
        "arm" => Some("v7"),
        _ => None,
    };
    ("linux", arch, variant)
}

/// Looks up image `name` and resolves it for the host platform: NOT_FOUND when
/// there is no such image (or its content is missing), INVALID_ARGUMENT when what
/// containerd holds is not a usable image (no manifest for the host, a malformed
/// document, layers and diff ids that do not match).
pub async fn resolve(conn: &Connection, name: &str) -> Result<ResolvedImage> {
    let req = GetImageRequest { name: name.to_string() };
    let image = match conn.call(req, |c, r| async move { c.images().get(c.request(r)).await }).await {
        Ok(r) => r.image,
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => return Err(Error::from_status(format!("image {name}"), &s)),
    };
    let image = image.ok_or_else(|| Error::not_found(format!("image {name:?} not found")))?;
    let mut target = image.target.ok_or_else(|| Error::invalid(format!("image {name} has no target")))?;
    // What a target digest resolves to never changes (content is addressed by digest).
    let key = (conn.socket().to_path_buf(), conn.namespace().to_string(), target.digest.clone());
    if let Some(mut hit) = RESOLVED.lock().unwrap().as_ref().and_then(|m| m.get(&key).cloned()) {
        hit.name = image.name;
        return Ok(hit);
    }
    let ctx = |e: Error| e.context(format!("image {name}"));
    let mut depth = 0;
    let manifest = loop {
        let blob = content::read_blob(conn, &target.digest, MAX_METADATA_BLOB).await.map_err(ctx)?;
        match media_type_of(&target.media_type, &blob).as_str() {
            OCI_INDEX | DOCKER_LIST => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(Error::invalid(format!("image {name}: indexes nested deeper than {MAX_INDEX_DEPTH}")));
                }
                let index: ImageIndex = parse(&blob, "index").map_err(ctx)?;
                target = pick_platform(&index).ok_or_else(|| {
                    let (os, arch, _) = host_platform();
                    Error::new(Code::NotFound, format!("image {name} has no manifest for {os}/{arch}"))
                })?;
            }
            OCI_MANIFEST | DOCKER_MANIFEST => break parse::<ImageManifest>(&blob, "manifest").map_err(ctx)?,
            other => return Err(Error::invalid(format!("image {name}: unsupported media type {other:?} of {}", target.digest))),
        }
    };
    let config_desc = to_ctr(manifest.config());
    let blob = content::read_blob(conn, &config_desc.digest, MAX_METADATA_BLOB).await.map_err(ctx)?;
    let config: ImageConfiguration = parse(&blob, "config").map_err(ctx)?;
    let layers: Vec<CtrDescriptor> = manifest.layers().iter().map(to_ctr).collect();
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != layers.len() {
        return Err(Error::invalid(format!("image {name}: {} layers but {} diff ids in its config", layers.len(), diff_ids.len())));
    }
    for d in &diff_ids {
        if !is_sha256(d) {
            return Err(Error::invalid(format!("image {name}: diff id {d:?} is not a sha256 digest")));
        }
    }
    let resolved = ResolvedImage { name: image.name, manifest_digest: target.digest, config_desc, config, layers, diff_ids };
    let mut cache = RESOLVED.lock().unwrap();
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.len() >= RESOLVED_CACHE {
        cache.clear();
    }
    cache.insert(key, resolved.clone());
    Ok(resolved)
}

/// Images resolved before, by (socket, namespace, target digest).
type ResolvedCache = HashMap<(PathBuf, String, String), ResolvedImage>;
static RESOLVED: Mutex<Option<ResolvedCache>> = Mutex::new(None);

/// How many resolved images are remembered (all are forgotten when it is full).
const RESOLVED_CACHE: usize = 64;

/// Whether `d` is `sha256:` and 64 lowercase hex digits.
pub fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The media type a descriptor gives, else the document's own `mediaType`.
fn media_type_of(given: &str, blob: &[u8]) -> String {
    if !given.is_empty() {
        return given.to_string();
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: String,
    }
    serde_json::from_slice::<Probe>(blob).map(|p| p.media_type).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(blob: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(blob).map_err(|e| Error::invalid(format!("malformed {what}: {e}")))
}

fn to_ctr(d: &oci_spec::image::Descriptor) -> CtrDescriptor {
    CtrDescriptor {
        media_type: d.media_type().to_string(),
        digest: d.digest().to_string(),
        size: d.size() as i64,
        annotations: d.annotations().clone().unwrap_or_default(),
    }
}

/// The manifest of `index` for the host platform (an entry without a platform counts
/// when it is the only one).
fn pick_platform(index: &ImageIndex) -> Option<CtrDescriptor> {
    let (os, arch, variant) = host_platform();
    let fits = |d: &&oci_spec::image::Descriptor| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == os
                && p.architecture().to_string() == arch
                && (variant.is_none() || p.variant().as_deref().is_none_or(|v| Some(v) == variant))
        })
    };
    let m = index.manifests();
    m.iter().find(fits).or_else(|| (m.len() == 1 && m[0].platform().is_none()).then(|| &m[0])).map(to_ctr)
}

/// What the image config says about the process and the container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessDefaults {
    /// Entrypoint followed by Cmd.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// WorkingDir ("" when unset).
    pub cwd: String,
    /// User as the image names it (`name`, `uid`, `uid:gid`, `name:group`; "" unset).
    pub user: String,
    /// StopSignal ("" when unset).
    pub stop_signal: String,
}

impl ProcessDefaults {
    /// The defaults of `config`.
    pub fn of(config: &ImageConfiguration) -> ProcessDefaults {
        let Some(c) = config.config() else { return ProcessDefaults::default() };
        let mut args = c.entrypoint().clone().unwrap_or_default();
        args.extend(c.cmd().clone().unwrap_or_default());
        ProcessDefaults {
            args,
            env: c.env().clone().unwrap_or_default(),
            cwd: c.working_dir().clone().unwrap_or_default(),
            user: c.user().clone().unwrap_or_default(),
            stop_signal: c.stop_signal().clone().unwrap_or_default(),
        }
    }
}

/// A uid, gid and supplementary gids.
pub type ResolvedUser = (u32, u32, Vec<u32>);

/// Fills what the spec's `process` leaves out from the image's defaults:
/// `args` when missing or empty, `env` merged (the spec's keys win), `cwd` when
/// missing or empty, `user` when missing (resolved by `resolve_user`, given the
/// image's user string, which reads the rootfs). The spec's `root.path` becomes
/// `rootfs` (the bundle's mount point, where containerd mounts the snapshot).
/// INVALID_ARGUMENT when neither names a command.
pub fn apply(spec: &mut Value, d: &ProcessDefaults, resolve_user: impl FnOnce(&str) -> Result<ResolvedUser>) -> Result<()> {
    let o = spec.as_object_mut().ok_or_else(|| Error::invalid("OCI spec: not an object"))?;
    let root = o.entry("root").or_insert_with(|| Value::Object(Map::new()));
    let root = root.as_object_mut().ok_or_else(|| Error::invalid("OCI spec: root is not an object"))?;
    root.insert("path".into(), "rootfs".into());
    let p = o.entry("process").or_insert_with(|| Value::Object(Map::new()));
    let p = p.as_object_mut().ok_or_else(|| Error::invalid("OCI spec: process is not an object"))?;
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    if empty(p.get("args")) {
        if d.args.is_empty() {
            return Err(Error::invalid("neither the OCI spec's process.args nor the image's Entrypoint/Cmd names a command"));
        }
        p.insert("args".into(), serde_json::json!(d.args));
    }
    let spec_env: Vec<String> = match p.get("env") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    p.insert("env".into(), serde_json::json!(merge_env(&d.env, &spec_env)));
    if empty(p.get("cwd")) {
        p.insert("cwd".into(), if d.cwd.is_empty() { "/".into() } else { d.cwd.clone().into() });
    }
    if !p.contains_key("user") || p.get("user") == Some(&Value::Null) {
        let (uid, gid, extra) = if d.user.is_empty() { (0, 0, Vec::new()) } else { resolve_user(&d.user)? };
        let mut u = serde_json::json!({"uid": uid, "gid": gid});
        if !extra.is_empty() {
            u["additionalGids"] = serde_json::json!(extra);
        }
        p.insert("user".into(), u);
    }
    Ok(())
}

/// The image's environment with the spec's entries laid over it: an entry of the spec
/// replaces the image's of the same key, the others are added in order.
pub fn merge_env(image: &[String], spec: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map(|(k, _)| k.to_string()).unwrap_or_else(|| e.to_string());
    let mut out: Vec<String> = image.to_vec();
    for e in spec {
        match out.iter().position(|x| key(x) == key(e)) {
            Some(i) => out[i] = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merges_with_the_spec_winning() {
        let image = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let spec = vec!["A=2".to_string(), "B=3".to_string()];
        assert_eq!(merge_env(&image, &spec), vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn defaults_fill_only_what_the_spec_leaves_out() {
        let d = ProcessDefaults {
            args: vec!["/bin/app".into(), "--x".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/srv".into(),
            user: "app".into(),
            stop_signal: "SIGINT".into(),
        };
        let mut spec = serde_json::json!({"ociVersion": "1.0.2", "root": {"path": "/somewhere", "readonly": true}, "process": {"env": ["X=1"]}});
        apply(&mut spec, &d, |u| {
            assert_eq!(u, "app");
            Ok((1000, 1000, vec![]))
        })
        .unwrap();
        assert_eq!(spec["process"]["args"], serde_json::json!(["/bin/app", "--x"]));
        assert_eq!(spec["process"]["env"], serde_json::json!(["PATH=/bin", "X=1"]));
        assert_eq!(spec["process"]["cwd"], "/srv");
        assert_eq!(spec["process"]["user"], serde_json::json!({"uid": 1000, "gid": 1000}));
        assert_eq!(spec["root"], serde_json::json!({"path": "rootfs", "readonly": true}));
        let mut spec = serde_json::json!({"process": {"args": ["sh"], "cwd": "/", "user": {"uid": 5, "gid": 5}}});
        apply(&mut spec, &d, |_| panic!("the spec names its user")).unwrap();
        assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(spec["process"]["cwd"], "/");
        let mut spec = serde_json::json!({"process": {}});
        let e = apply(&mut spec, &ProcessDefaults::default(), |_| Ok((0, 0, vec![]))).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
    }

    #[test]
    fn digests() {
        assert!(is_sha256(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_sha256(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_sha256("sha256:../../etc"));
    }
}
