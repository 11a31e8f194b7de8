//! The image's `User` (`name`, `uid`, `uid:gid`, `name:group`) resolved against the
//! container's own `/etc/passwd` and `/etc/group`, read through the snapshot's mounts
//! without mounting them: the layer directories they name (overlay `upperdir` and
//! `lowerdir`s, or a bind mount's source) are searched top first, honouring overlay
//! whiteouts and opaque directories, as the mounted rootfs would show them.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use containerd_client::types::Mount;

use super::config::ResolvedUser;
use crate::error::{Error, Result};

/// Largest passwd or group file read.
const MAX_FILE: u64 = 4 << 20;

/// The layer directories of a rootfs, top first, as its mounts name them.
pub fn layer_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for m in mounts {
        match m.r#type.as_str() {
            "overlay" => {
                let opt = |k: &str| m.options.iter().find_map(|o| o.strip_prefix(k).map(str::to_string));
                if let Some(up) = opt("upperdir=") {
                    dirs.push(PathBuf::from(up));
                }
                if let Some(low) = opt("lowerdir=") {
                    dirs.extend(low.split(':').filter(|s| !s.is_empty()).map(PathBuf::from));
                }
            }
            "bind" | "rbind" => dirs.push(PathBuf::from(&m.source)),
            _ => {}
        }
    }
    dirs
}

fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    let mut b = [0u8; 1];
    matches!(rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut b[..]), Ok(1)) && b[0] == b'y'
}

/// The contents of `rel` (relative, no `..`) as the merged layers show it; `None`
/// when it is absent, deleted, or not a regular file.
pub fn read_merged(layers: &[PathBuf], rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    'layers: for layer in layers {
        let mut dir = layer.clone();
        let mut opaque = false;
        for comp in &parts[..parts.len() - 1] {
            dir.push(comp);
            match std::fs::symlink_metadata(&dir) {
                Err(_) => continue 'layers,
                Ok(m) if is_whiteout(&m) || !m.is_dir() => return None,
                Ok(_) => opaque |= is_opaque(&dir),
            }
        }
        let file = dir.join(parts[parts.len() - 1]);
        match std::fs::symlink_metadata(&file) {
            Err(_) if opaque => return None,
            Err(_) => continue,
            Ok(m) if m.is_file() && m.len() <= MAX_FILE => return std::fs::read_to_string(&file).ok(),
            Ok(_) => return None,
        }
    }
    None
}

/// Resolves `user` against the passwd and group files of `layers`: numbers are taken
/// as they are (a uid alone gets its passwd entry's gid, else 0); names must exist
/// (INVALID_ARGUMENT naming them). Supplementary groups are those listing the user.
pub fn resolve(layers: &[PathBuf], user: &str) -> Result<ResolvedUser> {
    let passwd = read_merged(layers, "etc/passwd").unwrap_or_default();
    let group = read_merged(layers, "etc/group").unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // passwd: name:x:uid:gid:...
    let entries: Vec<Vec<&str>> = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 4).collect();
    let by_name = entries.iter().find(|f| f[0] == u);
    let (uid, name, pw_gid) = match u.parse::<u32>() {
        Ok(n) => {
            let e = entries.iter().find(|f| f[2].parse::<u32>().ok() == Some(n));
            (n, e.map(|f| f[0].to_string()), e.and_then(|f| f[3].parse::<u32>().ok()))
        }
        Err(_) => {
            let f = by_name.ok_or_else(|| Error::invalid(format!("image user {u:?} is not in the image's /etc/passwd")))?;
            let uid = f[2].parse().map_err(|_| Error::invalid(format!("image's /etc/passwd: bad uid for {u:?}")))?;
            (uid, Some(u.to_string()), f[3].parse::<u32>().ok())
        }
    };
    // group: name:x:gid:member,member
    let groups: Vec<Vec<&str>> = group.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 3).collect();
    let gid = match g {
        None => pw_gid.unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| Error::invalid(format!("image group {g:?} is not in the image's /etc/group")))?,
        },
    };
    let mut extra = Vec::new();
    if let (Some(name), None) = (&name, g) {
        for f in &groups {
            let members = f.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if n != gid && !extra.contains(&n) {
                        extra.push(n);
                    }
                }
            }
        }
    }
    Ok((uid, gid, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_layers_win_and_whiteouts_hide() {
        let t = std::env::temp_dir().join(format!("lcd-users-{}", std::process::id()));
        let (top, low) = (t.join("top"), t.join("low"));
        for d in [&top, &low] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
        }
        std::fs::write(low.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n").unwrap();
        std::fs::write(low.join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\n").unwrap();
        std::fs::write(top.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nsvc:x:2000:2001::/:/bin/sh\n").unwrap();
        let layers = vec![top.clone(), low.clone()];
        assert_eq!(resolve(&layers, "svc").unwrap(), (2000, 2001, vec![]));
        assert!(resolve(&layers, "app").is_err(), "the upper passwd hides the lower one");
        assert_eq!(resolve(&layers, "1000:10").unwrap(), (1000, 10, vec![]));
        assert_eq!(resolve(&[low.clone()], "app").unwrap(), (1000, 1000, vec![10]));
        assert_eq!(resolve(&[low.clone()], "app:wheel").unwrap(), (1000, 10, vec![]));
        assert!(read_merged(&layers, "../etc/passwd").is_none());
        let mounts = vec![Mount {
            r#type: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec![format!("upperdir={}", top.display()), format!("lowerdir={}", low.display()), "workdir=/w".into()],
        }];
        assert_eq!(layer_dirs(&mounts), layers);
        let _ = std::fs::remove_dir_all(&t);
    }
}
