//! Untrusted tar archives (OCI image layouts, `docker save` files) read in place:
//! an index of the regular files they hold (with links resolved inside the archive),
//! and streams of one file's bytes. Nothing is ever extracted to disk; every path is
//! checked (no absolute paths, no `..`, no links leading out, sizes within the file).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use crate::error::{Error, Result};

/// Most entries accepted in one archive.
const MAX_ENTRIES: usize = 100_000;
/// Longest chain of links followed.
const MAX_LINK_DEPTH: usize = 8;

/// Where a regular file's bytes are in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Offset of the first byte in the archive file.
    pub offset: u64,
    /// Length.
    pub size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    File(Extent),
    /// A link to another path of the archive (normalised, archive-relative).
    Link(String),
}

/// The regular files of a tar archive.
#[derive(Debug)]
pub struct ArchiveIndex {
    nodes: HashMap<String, Node>,
}

fn invalid(archive: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("archive {archive}: {why}"))
}

/// Normalises an archive path: relative, no `..`, no empty result. `.` components and
/// a leading `./` are dropped.
pub fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Resolves a symlink's target relative to the link's directory, refusing one that
/// leaves the archive.
fn resolve_symlink(link: &str, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl ArchiveIndex {
    /// Reads the headers of the tar archive in `file` (named `name` in messages).
    /// Malformed, truncated or hostile archives are INVALID_ARGUMENT.
    pub fn read(file: &File, name: &str) -> Result<ArchiveIndex> {
        let len = file.metadata().map_err(|e| Error::io(format!("archive {name}"), e))?.len();
        let mut ar = tar::Archive::new(file);
        let entries = ar.entries_with_seek().map_err(|e| invalid(name, e))?;
        let mut nodes = HashMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| invalid(name, format!("malformed or truncated tar: {e}")))?;
            if nodes.len() >= MAX_ENTRIES {
                return Err(invalid(name, "too many entries"));
            }
            let raw = entry.path().map_err(|e| invalid(name, e))?.into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                if normalize(&raw).is_none() && raw.as_os_str() != "." && raw.as_os_str() != "./" {
                    return Err(invalid(name, format!("unsafe path {raw:?}")));
                }
                continue;
            }
            let path = normalize(&raw).ok_or_else(|| invalid(name, format!("unsafe path {raw:?}")))?;
            let node = if kind.is_file() {
                let size = entry.size();
                let offset = entry.raw_file_position();
                if offset.checked_add(size).is_none_or(|end| end > len) {
                    return Err(invalid(name, format!("{path} claims {size} bytes past the end of the archive")));
                }
                Node::File(Extent { offset, size })
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name().map_err(|e| invalid(name, e))?.ok_or_else(|| invalid(name, format!("{path}: link without target")))?;
                let resolved = if kind.is_symlink() { resolve_symlink(&path, &target) } else { normalize(&target) };
                Node::Link(resolved.ok_or_else(|| invalid(name, format!("{path} links outside the archive ({target:?})")))?)
            } else if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
                continue;
            } else {
                return Err(invalid(name, format!("{path}: unsupported entry type {kind:?}")));
            };
            if nodes.insert(path.clone(), node).is_some() {
                return Err(invalid(name, format!("{path} appears twice")));
            }
        }
        Ok(ArchiveIndex { nodes })
    }

    /// Whether the archive has `path` (a file, or a link leading to one).
    pub fn contains(&self, path: &str) -> bool {
        self.lookup(path).is_ok()
    }

    /// The extent of regular file `path`, following links inside the archive.
    pub fn lookup(&self, path: &str) -> std::result::Result<Extent, String> {
        let mut p = normalize(Path::new(path)).ok_or_else(|| format!("unsafe path {path:?}"))?;
        for _ in 0..MAX_LINK_DEPTH {
            match self.nodes.get(&p) {
                Some(Node::File(e)) => return Ok(*e),
                Some(Node::Link(t)) => p = t.clone(),
                None => return Err(format!("{path} is not in the archive")),
            }
        }
        Err(format!("{path}: too many levels of links"))
    }
}

/// Reads file `extent` of the archive whole; more than `max` bytes is INVALID_ARGUMENT.
pub fn read_all(file: &File, extent: Extent, max: u64, what: &str) -> Result<Vec<u8>> {
    if extent.size > max {
        return Err(Error::invalid(format!("{what}: {} bytes, more than the {max} accepted", extent.size)));
    }
    let mut f = file.try_clone().map_err(|e| Error::io(what, e))?;
    f.seek(SeekFrom::Start(extent.offset)).map_err(|e| Error::io(what, e))?;
    let mut buf = Vec::with_capacity(extent.size as usize);
    f.take(extent.size).read_to_end(&mut buf).map_err(|e| Error::io(what, e))?;
    if buf.len() as u64 != extent.size {
        return Err(Error::invalid(format!("{what}: truncated")));
    }
    Ok(buf)
}

/// A stream of file `extent`'s bytes, in chunks, read on the blocking pool.
pub fn stream(file: &File, extent: Extent, what: String) -> Result<impl tokio_stream::Stream<Item = Result<bytes::Bytes>> + Unpin> {
    const CHUNK: u64 = 1 << 20;
    let f = file.try_clone().map_err(|e| Error::io(&what, e))?;
    let state = (f, extent.offset, extent.offset + extent.size, what);
    Ok(Box::pin(futures_util::stream::unfold(Some(state), |state| async move {
        let (f, pos, end, what) = state?;
        if pos >= end {
            return None;
        }
        let n = CHUNK.min(end - pos);
        let res = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; n as usize];
            let r = std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, pos);
            (f, r.map(|_| buf))
        })
        .await;
        match res {
            Ok((f, Ok(buf))) => Some((Ok(bytes::Bytes::from(buf)), Some((f, pos + n, end, what)))),
            Ok((_, Err(e))) => Some((Err(Error::io(&what, e)), None)),
            Err(e) => Some((Err(Error::internal(format!("{what}: {e}"))), None)),
        }
    })))
}

/// The sha256 digest of file `extent` (`sha256:<hex>`), read in place.
pub fn digest(file: &File, extent: Extent, what: &str) -> Result<String> {
    use sha2::{Digest as _, Sha256};
    let mut f = file.try_clone().map_err(|e| Error::io(what, e))?;
    f.seek(SeekFrom::Start(extent.offset)).map_err(|e| Error::io(what, e))?;
    let mut h = Sha256::new();
    let mut r = f.take(extent.size);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(|e| Error::io(what, e))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    if n != extent.size {
        return Err(Error::invalid(format!("{what}: truncated")));
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(normalize(Path::new("./a/b")).as_deref(), Some("a/b"));
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
        assert_eq!(normalize(Path::new("a/../../b")), None);
        assert_eq!(resolve_symlink("x/layer.tar", Path::new("../y/layer.tar")).as_deref(), Some("y/layer.tar"));
        assert_eq!(resolve_symlink("layer.tar", Path::new("../../etc/passwd")), None);
        assert_eq!(resolve_symlink("a/l", Path::new("/etc/passwd")), None);
    }
}
