//! Image manifests, indexes and configs (OCI and Docker schema 2): strict parsing of
//! untrusted documents, media types, and choosing a platform from an index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reference::check_digest;
use crate::error::{Code, Error, Result};

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI uncompressed layer.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Every manifest and index media type the library accepts (the `Accept` list).
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Largest manifest, index or config document read (bytes).
pub const MAX_DOCUMENT: u64 = 8 << 20;
/// Most entries (layers, or manifests of an index) accepted in one document.
const MAX_ENTRIES: usize = 1024;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// The media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// The platform (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn check(&self, what: &str) -> Result<()> {
        check_digest(&self.digest).map_err(|e| invalid(format!("{what}: {e}")))?;
        if self.size < 0 {
            return Err(invalid(format!("{what} {}: negative size", self.digest)));
        }
        Ok(())
    }
}

/// An OS/architecture pair (and variant), e.g. `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v7`, `v8`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform { os: os.to_string(), architecture: arch.to_string(), variant: None }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => {
                Ok(Platform { os: os.to_string(), architecture: arch.to_string(), variant: Some(v.to_string()) })
            }
            _ => Err(Error::invalid(format!("invalid platform {s:?}: expected os/architecture[/variant]"))),
        }
    }

    /// The platform this library runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "arm" => "arm",
            other => other,
        };
        Platform { os: std::env::consts::OS.to_string(), architecture: arch.to_string(), variant: None }
    }

    /// Whether an index entry for `other` runs here: same OS and architecture, and the
    /// same variant when both name one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || other.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A parsed manifest or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An index / manifest list.
    Index {
        /// Its media type.
        media_type: String,
        /// The manifests it lists.
        manifests: Vec<Descriptor>,
    },
    /// An image manifest.
    Image {
        /// Its media type.
        media_type: String,
        /// The config blob.
        config: Descriptor,
        /// The layers, base first.
        layers: Vec<Descriptor>,
    },
}

impl Manifest {
    /// The document's media type.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index { media_type, .. } | Manifest::Image { media_type, .. } => media_type,
        }
    }

    /// Descriptors this document refers to (what containerd's GC labels point at).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Index { manifests, .. } => manifests.iter().collect(),
            Manifest::Image { config, layers, .. } => std::iter::once(config).chain(layers).collect(),
        }
    }
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
}

fn invalid(msg: String) -> Error {
    Error::invalid(msg)
}

/// Whether `media_type` is an index or manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Parses an untrusted manifest or index. `hint` is the media type the source gave
/// (a registry's Content-Type, a descriptor's); the document's own `mediaType` wins.
/// Anything malformed is INVALID_ARGUMENT; Docker schema 1 is UNSUPPORTED.
pub fn parse(bytes: &[u8], hint: Option<&str>) -> Result<Manifest> {
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(invalid(format!("manifest of {} bytes is larger than the {MAX_DOCUMENT} accepted", bytes.len())));
    }
    let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed manifest: {e}")))?;
    match raw.schema_version {
        Some(2) => {}
        Some(1) => return Err(Error::new(Code::Unsupported, "Docker schema 1 manifests are not supported")),
        other => return Err(invalid(format!("manifest schemaVersion {other:?}, expected 2"))),
    }
    let hint = hint.filter(|h| ACCEPTED.contains(h));
    let media_type = match (raw.media_type, hint) {
        (Some(m), _) => m,
        (None, Some(h)) => h.to_string(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    if is_index(&media_type) {
        let manifests = raw.manifests.ok_or_else(|| invalid("index without manifests".into()))?;
        if raw.config.is_some() || raw.layers.is_some() {
            return Err(invalid("index with config or layers".into()));
        }
        if manifests.len() > MAX_ENTRIES {
            return Err(invalid(format!("index lists {} manifests", manifests.len())));
        }
        for m in &manifests {
            m.check("index entry")?;
        }
        Ok(Manifest::Index { media_type, manifests })
    } else if media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST {
        if raw.manifests.is_some() {
            return Err(invalid("image manifest with manifests".into()));
        }
        let config = raw.config.ok_or_else(|| invalid("manifest without config".into()))?;
        config.check("config")?;
        let layers = raw.layers.unwrap_or_default();
        if layers.len() > MAX_ENTRIES {
            return Err(invalid(format!("manifest lists {} layers", layers.len())));
        }
        for l in &layers {
            l.check("layer")?;
        }
        Ok(Manifest::Image { media_type, config, layers })
    } else {
        Err(Error::new(Code::Unsupported, format!("unsupported manifest media type {media_type:?}")))
    }
}

/// The entry of `manifests` for `platform`: the first that matches; NOT_FOUND when
/// none does.
pub fn select_platform<'a>(manifests: &'a [Descriptor], platform: &Platform) -> Result<&'a Descriptor> {
    manifests
        .iter()
        .filter(|d| !is_index(&d.media_type))
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .ok_or_else(|| {
            let have: Vec<String> = manifests.iter().filter_map(|d| d.platform.as_ref().map(|p| p.to_string())).collect();
            Error::not_found(format!("no manifest for platform {platform} in the index (it has: {})", have.join(", ")))
        })
}

/// The parts of an image config the library uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    /// When it was built (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// `amd64`, ...
    #[serde(default)]
    pub architecture: String,
    /// `linux`.
    #[serde(default)]
    pub os: String,
    /// The architecture's variant.
    #[serde(default)]
    pub variant: Option<String>,
    /// Process defaults.
    #[serde(default)]
    pub config: Option<ContainerConfig>,
    /// The uncompressed layer digests.
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

/// The image config's `config`: defaults for a container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// `User`.
    #[serde(rename(deserialize = "User"), default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `Env`.
    #[serde(rename(deserialize = "Env"), default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `Entrypoint`.
    #[serde(rename(deserialize = "Entrypoint"), default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    #[serde(rename(deserialize = "Cmd"), default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`.
    #[serde(rename(deserialize = "WorkingDir"), default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `StopSignal`.
    #[serde(rename(deserialize = "StopSignal"), default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `Labels`.
    #[serde(rename(deserialize = "Labels"), default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The image config's `rootfs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    /// `diff_ids`: the digest of each uncompressed layer.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    /// Parses an untrusted image config; malformed is INVALID_ARGUMENT.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(invalid(format!("image config of {} bytes is too large", bytes.len())));
        }
        let c: ImageConfig = serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed image config: {e}")))?;
        if let Some(r) = &c.rootfs {
            if r.diff_ids.len() > MAX_ENTRIES {
                return Err(invalid("image config lists too many layers".into()));
            }
            for d in &r.diff_ids {
                check_digest(d).map_err(|e| invalid(format!("image config diff_id: {e}")))?;
            }
        }
        Ok(c)
    }

    /// `os/architecture[/variant]`.
    pub fn platform(&self) -> Platform {
        Platform { os: self.os.clone(), architecture: self.architecture.clone(), variant: self.variant.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn index_and_manifest() {
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let m = parse(idx.as_bytes(), None).unwrap();
        let Manifest::Index { manifests, .. } = &m else { panic!() };
        let p = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select_platform(manifests, &p).unwrap().size, 2);
        assert_eq!(select_platform(manifests, &Platform::parse("linux/s390x").unwrap()).unwrap_err().code(), Code::NotFound);
        let man = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"x","digest":"{D}","size":3}},"layers":[]}}"#);
        assert_eq!(parse(man.as_bytes(), None).unwrap().media_type(), DOCKER_MANIFEST);
    }

    #[test]
    fn bad_documents() {
        assert_eq!(parse(b"{}", None).unwrap_err().code(), Code::InvalidArgument);
        assert_eq!(parse(br#"{"schemaVersion":1}"#, None).unwrap_err().code(), Code::Unsupported);
        let bad_digest = r#"{"schemaVersion":2,"config":{"digest":"sha256:../../etc","size":1},"layers":[]}"#;
        assert_eq!(parse(bad_digest.as_bytes(), None).unwrap_err().code(), Code::InvalidArgument);
        let neg = format!(r#"{{"schemaVersion":2,"config":{{"digest":"{D}","size":-1}}}}"#);
        assert_eq!(parse(neg.as_bytes(), None).unwrap_err().code(), Code::InvalidArgument);
        assert!(Platform::parse("linux").is_err() && Platform::parse("linux/amd64/v1/x").is_err());
    }
}
