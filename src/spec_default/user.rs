//! Resolving a `user` option (`uid[:gid]`, `name[:group]`) against a rootfs's
//! `/etc/passwd` and `/etc/group`, read without leaving the rootfs.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Code, Error, Result};

/// The process identity a `user` option resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (from `/etc/group` membership), without `gid`.
    pub additional_gids: Vec<u32>,
    /// The home directory, when the rootfs's `/etc/passwd` knows the user.
    pub home: Option<String>,
}

/// One line of `/etc/passwd`.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One line of `/etc/group`.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Reads `rel` (e.g. `etc/passwd`) inside `rootfs`, resolving every symlink as if
/// `rootfs` were `/` (`openat2` with `RESOLVE_IN_ROOT`), so a hostile rootfs cannot make
/// the library read a host file. A missing file is `Ok(None)`.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>> {
    let root = std::fs::File::open(rootfs).map_err(|e| Error::invalid(format!("spec options: rootfs {}: {e}", rootfs.display())))?;
    let path = std::ffi::CString::new(rel).map_err(|_| Error::internal("path with NUL"))?;
    // SAFETY: open_how is plain old data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid directory fd, NUL-terminated path and a properly sized open_how.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            std::os::fd::AsRawFd::as_raw_fd(&root),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
            Some(libc::ENOSYS) => Err(Error::new(Code::Unsupported, "spec options: resolving a user name needs openat2 (Linux 5.6 or newer)")),
            _ => Err(Error::new(Code::Io, format!("spec options: read /{rel} in rootfs {}: {err}", rootfs.display()))),
        };
    }
    // SAFETY: a fresh descriptor this function owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let mut text = String::new();
    // A user database is small; a huge one is not one.
    (&mut file).take(16 << 20).read_to_string(&mut text).map_err(|e| Error::new(Code::Io, format!("spec options: read /{rel} in rootfs {}: {e}", rootfs.display())))?;
    Ok(Some(text))
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            Some(PasswdEntry { name: f[0].to_string(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].to_string() })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 || f[0].is_empty() {
                return None;
            }
            let members = f[3].split(',').filter(|m| !m.is_empty()).map(str::to_string).collect();
            Some(GroupEntry { name: f[0].to_string(), gid: f[2].parse().ok()?, members })
        })
        .collect()
}

/// Resolves `user` (`uid`, `uid:gid`, `name`, `name:group`, mixed forms too) as
/// containerd's `WithUser` does: a name must be in the rootfs's `/etc/passwd` (a group
/// name in `/etc/group`); a bare uid takes its primary group from `/etc/passwd` when
/// listed there, else gid 0; supplementary groups are the `/etc/group` entries that
/// list the user by name. Without a rootfs only numeric ids are accepted.
pub(crate) fn resolve_user(user: &str, rootfs: Option<&Path>) -> Result<ResolvedUser> {
    let bad = |why: String| Error::invalid(format!("spec options: user {user:?}: {why}"));
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if u.is_empty() || g.is_some_and(str::is_empty) {
        return Err(bad("expected uid[:gid] or name[:group]".into()));
    }
    let need_db = u.parse::<u32>().is_err() || g.is_some_and(|g| g.parse::<u32>().is_err());
    let (passwd, group) = match rootfs {
        Some(root) => (
            read_in_root(root, "etc/passwd")?.map(|t| parse_passwd(&t)).unwrap_or_default(),
            read_in_root(root, "etc/group")?.map(|t| parse_group(&t)).unwrap_or_default(),
        ),
        None if need_db => return Err(bad("a name needs the rootfs option to look it up in /etc/passwd and /etc/group".into())),
        None => (Vec::new(), Vec::new()),
    };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|p| p.uid == uid),
        Err(_) => Some(passwd.iter().find(|p| p.name == u).ok_or_else(|| bad(format!("no user {u:?} in the rootfs's /etc/passwd")))?),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => u.parse::<u32>().map_err(|_| bad("not a number".into()))?,
    };
    let gid = match g {
        None => entry.map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group.iter().find(|e| e.name == g).map(|e| e.gid).ok_or_else(|| bad(format!("no group {g:?} in the rootfs's /etc/group")))?,
        },
    };
    let mut additional_gids: Vec<u32> = match entry {
        Some(e) => group.iter().filter(|gr| gr.members.iter().any(|m| *m == e.name)).map(|gr| gr.gid).filter(|&x| x != gid).collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser { uid, gid, additional_gids, home: entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1000:\naudio:x:29:app,x\nstaff:x:50:\n").unwrap();
        d
    }

    #[test]
    fn names_and_numbers() {
        let d = rootfs();
        let r = resolve_user("app", Some(d.path())).unwrap();
        assert_eq!((r.uid, r.gid, r.additional_gids.clone(), r.home.as_deref()), (1000, 1000, vec![29], Some("/home/app")));
        assert_eq!(resolve_user("1000", Some(d.path())).unwrap().gid, 1000);
        assert_eq!(resolve_user("1234", Some(d.path())).unwrap(), ResolvedUser { uid: 1234, ..Default::default() });
        let r = resolve_user("app:staff", Some(d.path())).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 50));
        assert_eq!(resolve_user("5:7", None).unwrap(), ResolvedUser { uid: 5, gid: 7, ..Default::default() });
        for bad in ["nobody", "app:nogroup", "", ":1", "1:"] {
            assert_eq!(resolve_user(bad, Some(d.path())).unwrap_err().code(), Code::InvalidArgument, "{bad}");
        }
        assert_eq!(resolve_user("app", None).unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn symlinks_stay_inside_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        for dir in ["etc", "data"] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
        }
        // Absolute and climbing symlinks resolve inside the rootfs, never to the host's files.
        std::fs::write(d.path().join("data/passwd"), "root:x:0:0:root:/inside:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("grp"), "wheel:x:10:root\n").unwrap();
        std::os::unix::fs::symlink("/data/passwd", d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../../../grp", d.path().join("etc/group")).unwrap();
        let r = resolve_user("root", Some(d.path())).unwrap();
        assert_eq!(r.home.as_deref(), Some("/inside"));
        assert_eq!(r.additional_gids, vec![10]);
    }
}
