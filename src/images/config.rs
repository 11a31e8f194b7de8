//! An image as containerd holds it: its record (images service) → the host platform's
//! manifest (through an index if it is one) → the image config, read from the content
//! store; and the config's process defaults applied to a container's OCI spec the way
//! the Go client's `oci.WithImageConfig` does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use containerd_client::types::Descriptor as CtrDescriptor;
use oci_spec::image::ImageConfiguration;
use serde_json::{Map, Value};

use super::{content, store};
use crate::error::{Error, Result};
use crate::remote::connection::Connection;

/// Largest manifest, index or config the library reads (they are small JSON documents;
/// anything bigger is refused rather than buffered).
pub const MAX_METADATA_BLOB: u64 = 16 << 20;

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

/// Looks up image `name` and resolves it for the host platform (through the same
/// manifest walk as [`store::resolve_manifest`]): NOT_FOUND when there is no such
/// image, its content is missing or it has no manifest for this host;
/// INVALID_ARGUMENT when what containerd holds is not a usable image (a malformed
/// document, layers and diff ids that do not match).
pub async fn resolve(conn: &Connection, name: &str) -> Result<ResolvedImage> {
    let image = store::get(conn, name).await?;
    let root = store::target(&image)?;
    // What a target digest resolves to never changes (content is addressed by digest).
    let key = (conn.socket().to_path_buf(), conn.namespace().to_string(), root.digest.clone());
    if let Some(mut hit) = RESOLVED.lock().unwrap().as_ref().and_then(|m| m.get(&key).cloned()) {
        hit.name = image.name;
        return Ok(hit);
    }
    let ctx = |e: Error| e.context(format!("image {name}"));
    let (manifest, config_desc, layers) = store::resolve_manifest(conn, &root, None).await.map_err(ctx)?;
    let (config_desc, layers) = (store::proto(&config_desc), layers.iter().map(store::proto).collect::<Vec<_>>());
    let blob = content::read_blob(conn, &config_desc.digest, MAX_METADATA_BLOB).await.map_err(ctx)?;
    let resolved = ResolvedImage::from_config(&image.name, manifest.digest, config_desc, &blob, layers)?;
    remember(conn, &root.digest, &resolved);
    Ok(resolved)
}

impl ResolvedImage {
    /// The image `name` whose platform manifest `manifest_digest` names config
    /// `config_desc` (its bytes `config_blob`) and `layers`: INVALID_ARGUMENT when the
    /// config is malformed or its diff ids do not match the layers.
    pub fn from_config(name: &str, manifest_digest: String, config_desc: CtrDescriptor, config_blob: &[u8], layers: Vec<CtrDescriptor>) -> Result<ResolvedImage> {
        let config: ImageConfiguration = parse(config_blob, "config").map_err(|e| e.context(format!("image {name}")))?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != layers.len() {
            return Err(Error::invalid(format!("image {name}: {} layers but {} diff ids in its config", layers.len(), diff_ids.len())));
        }
        for d in &diff_ids {
            if !is_sha256(d) {
                return Err(Error::invalid(format!("image {name}: diff id {d:?} is not a sha256 digest")));
            }
        }
        Ok(ResolvedImage { name: name.to_string(), manifest_digest, config_desc, config, layers, diff_ids })
    }
}

/// Remembers that an image record targeting `root_digest` resolves (for this host's
/// platform) to `resolved`: what a digest resolves to never changes, so [`resolve`]
/// then asks containerd for the record only.
pub fn remember(conn: &Connection, root_digest: &str, resolved: &ResolvedImage) {
    let key = (conn.socket().to_path_buf(), conn.namespace().to_string(), root_digest.to_string());
    let mut cache = RESOLVED.lock().unwrap();
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.len() >= RESOLVED_CACHE {
        cache.clear();
    }
    cache.insert(key, resolved.clone());
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

fn parse<T: serde::de::DeserializeOwned>(blob: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(blob).map_err(|e| Error::invalid(format!("malformed {what}: {e}")))
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
        assert_eq!(e.code(), crate::error::Code::InvalidArgument);
    }

    #[test]
    fn digests() {
        assert!(is_sha256(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_sha256(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_sha256("sha256:../../etc"));
    }
}
