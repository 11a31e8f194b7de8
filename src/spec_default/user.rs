//! Resolving a `user` option (`uid[:gid]`, `name[:group]`) against a rootfs's
//! `/etc/passwd` and `/etc/group`, read without leaving the rootfs.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

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
/// `rootfs` were `/`, so a hostile rootfs cannot make the library read a host file. A
/// missing file is `Ok(None)`.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<Option<String>> {
    let failed = |e: std::io::Error| Error::new(Code::Io, format!("spec options: read /{rel} in rootfs {}: {e}", rootfs.display()));
    let root = std::fs::File::open(rootfs).map_err(|e| Error::invalid(format!("spec options: rootfs {}: {e}", rootfs.display())))?;
    let opened = match open_in_root(&root, rel) {
        Err(e) if e == Errno::NOSYS => open_in_root_by_hand(&root, rel),
        r => r,
    };
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) if e == Errno::NOENT || e == Errno::NOTDIR => return Ok(None),
        Err(e) => return Err(failed(e.into())),
    };
    let mut text = String::new();
    // A user database is small; a huge one is not one.
    std::fs::File::from(fd).take(16 << 20).read_to_string(&mut text).map_err(failed)?;
    Ok(Some(text))
}

/// `openat2` with `RESOLVE_IN_ROOT` (Linux 5.6 and later).
fn open_in_root(root: &std::fs::File, rel: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(root, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty(), ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS)
}

/// The same resolution done component by component where `openat2` is missing (older
/// kernels, valgrind): symlinks are read and followed inside the root, `..` never
/// climbs above it, and every open refuses to follow a link itself, so a link swapped
/// in meanwhile fails the open instead of leaving the root.
fn open_in_root_by_hand(root: &std::fs::File, rel: &str) -> rustix::io::Result<OwnedFd> {
    let split = |p: &str| p.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect::<VecDeque<_>>();
    let mut pending = split(rel);
    let mut dirs: Vec<OwnedFd> = Vec::new(); // below the root; the current one last
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            dirs.pop();
            continue;
        }
        let here = dirs.last().map(|d| d.as_fd()).unwrap_or(root.as_fd());
        match rustix::fs::readlinkat(here, name.as_str(), Vec::new()) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return Err(Errno::LOOP);
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    dirs.clear();
                }
                let mut next = split(&target);
                next.extend(pending.drain(..));
                pending = next;
                continue;
            }
            Err(e) if e == Errno::INVAL => {} // not a symlink
            Err(e) => return Err(e),
        }
        let last = pending.is_empty();
        let flags = if last { OFlags::RDONLY } else { OFlags::PATH | OFlags::DIRECTORY };
        let fd = rustix::fs::openat(here, name.as_str(), flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        if last {
            return Ok(fd);
        }
        dirs.push(fd);
    }
    Err(Errno::ISDIR)
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
        // The resolution without openat2 reads the same files.
        let root = std::fs::File::open(d.path()).unwrap();
        let mut text = String::new();
        std::fs::File::from(open_in_root_by_hand(&root, "etc/passwd").unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, "root:x:0:0:root:/inside:/bin/sh\n");
        text.clear();
        std::fs::File::from(open_in_root_by_hand(&root, "etc/../etc/./group").unwrap()).read_to_string(&mut text).unwrap();
        assert_eq!(text, "wheel:x:10:root\n");
        assert_eq!(open_in_root_by_hand(&root, "etc/missing").unwrap_err(), Errno::NOENT);
    }
}
