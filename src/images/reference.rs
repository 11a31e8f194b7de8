//! Image references: parsing and normalising `[registry/]path[:tag][@digest]` the way
//! Docker and containerd do (a bare `busybox` is `docker.io/library/busybox:latest`).

use std::fmt;

use crate::error::{Error, Result};

/// The registry a reference without one names.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag a reference without a tag or digest names.
pub const DEFAULT_TAG: &str = "latest";

/// Longest accepted reference, in bytes.
const MAX_LEN: usize = 1024;
/// Longest repository path (the distribution spec's limit on the name).
const MAX_PATH: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry host, with its port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/busybox`).
    pub repository: String,
    /// The tag, if any (`latest` when neither a tag nor a digest was given).
    pub tag: Option<String>,
    /// The digest (`sha256:<64 hex>`), if any.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `s`; anything malformed is INVALID_ARGUMENT saying what is wrong.
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| Error::invalid(format!("invalid image reference {s:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                check_digest(d).map_err(|e| bad(&e))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // The tag follows the last ':' after the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad("a tag is 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, more)) if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') => {
                (first.to_string(), more.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !valid_registry(&registry) {
            return Err(bad("bad registry host"));
        }
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path };
        if path.is_empty() || path.len() > MAX_PATH || !path.split('/').all(valid_component) {
            return Err(bad("a repository path is lower-case [a-z0-9] components joined by '/', with '.', '_', '__' or '-' inside"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { registry, repository: path, tag, digest })
    }

    /// What to ask the registry for: the digest when there is one, else the tag.
    pub fn object(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), tag: None, ..self.clone() }
    }
}

impl fmt::Display for Reference {
    /// The normalised form containerd records: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Checks a digest `algorithm:hex` (sha256 with 64 hex digits, or sha512 with 128).
pub fn check_digest(d: &str) -> std::result::Result<(), String> {
    let (algo, hex) = d.split_once(':').ok_or_else(|| format!("digest {d:?} is not algorithm:hex"))?;
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(format!("digest {d:?}: unsupported algorithm")),
    };
    if hex.len() != want || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(format!("digest {d:?}: expected {want} lower-case hex digits"));
    }
    Ok(())
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = if let Some(v6) = r.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') => {
                (None, if rest.is_empty() { None } else { rest.strip_prefix(':').or(Some("x")) })
            }
            _ => return false,
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(r), None),
        }
    };
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|l| {
                !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            })
    });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n > 0 && n < 65536));
    host_ok && port_ok
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(norm(&format!("busybox@{d}")), format!("docker.io/library/busybox@{d}"));
        assert_eq!(norm(&format!("busybox:1@{d}")), format!("docker.io/library/busybox:1@{d}"));
    }

    #[test]
    fn registries_with_ports() {
        let r = Reference::parse("127.0.0.1:5000/test/busybox:v1").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("127.0.0.1:5000", "test/busybox", Some("v1")));
        assert_eq!(norm("localhost/a"), "localhost/a:latest");
        assert_eq!(norm("registry.example:5000/ns/name"), "registry.example:5000/ns/name:latest");
        assert_eq!(norm("[::1]:5000/a/b"), "[::1]:5000/a/b:latest");
    }

    #[test]
    fn malformed_references_are_invalid() {
        for bad in [
            "", "Busybox", "busybox:", "busybox@sha256:abc", "a//b", "/a", "a/", "a:b:c", "busybox@md5:00", "-a", "a..b",
            "host:99999/a", "busybox:-x", "a b", "ex ample.com/a", "a/b@", "[zz]:1/a",
        ] {
            let e = Reference::parse(bad).unwrap_err();
            assert_eq!(e.code(), crate::error::Code::InvalidArgument, "{bad:?}");
        }
        assert!(Reference::parse(&"a".repeat(2000)).is_err());
    }
}
