//! Images through containerd's own services: references, pulling from a registry,
//! importing archives, the content store under leases, the images service, unpacking
//! layers into a snapshotter, and the copy-on-write rootfs of each container.
//!
//! [`Remote::pull_image`], [`Remote::import_images`], [`Remote::images`] and
//! [`Remote::remove_image`] are the entry points (the C ABI's `lcd_remote_image_*`).

pub mod archive;
pub mod content;
pub mod import;
pub mod inflate;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod store;
pub mod tls;
pub mod config;
pub mod lease;
pub mod rootfs;
pub mod unpack;
pub mod users;

use std::path::Path;

pub use import::ImportOptions;
pub use progress::{Progress, ProgressFn, Status as ProgressStatus};
pub use pull::{Auth, PullOptions};
pub use reference::Reference;
pub use store::ImageInfo;
pub use unpack::{unpack_image, ProgressEvent, DEFAULT_SNAPSHOTTER};

use crate::error::{Code, Result};
use crate::remote::Remote;

impl Remote {
    /// Pulls `reference` from its registry into containerd (content store and images
    /// service, under the remote's namespace), unpacking it unless `options.unpack` is
    /// false. Progress reports go to `progress` on one library thread, in order, all
    /// before this returns.
    pub fn pull_image(&self, reference: &str, options: &PullOptions, progress: Option<ProgressFn>) -> Result<ImageInfo> {
        let reference = Reference::parse(reference)?;
        options.validate()?;
        let reporter = progress::Reporter::new(&reference.to_string(), progress);
        let conn = self.inner.conn.clone();
        let result = crate::call::wait(async {
            let unpack_into = options.unpack.unwrap_or(true).then_some(options.snapshotter.as_deref());
            let p = pull::pull(&conn, &reference, options, unpack_into, &reporter).await?;
            let config = match p.config_blob {
                Some(blob) => blob,
                None => content::read_blob(&conn, &p.config.digest, manifest::MAX_DOCUMENT).await?,
            };
            store::describe_parts(&p.image, &p.root, &p.manifest, &p.config, &p.layers, &config)
        });
        reporter.finish();
        result
    }

    /// Imports an OCI image layout archive or a `docker save` archive; returns the
    /// images it registered.
    pub fn import_images(&self, archive: &Path, options: &ImportOptions) -> Result<Vec<ImageInfo>> {
        let conn = self.inner.conn.clone();
        crate::call::wait(async {
            let names = import::import(&conn, archive, options).await?;
            let mut out = Vec::new();
            for n in names {
                let image = store::get(&conn, &n).await?;
                out.push(store::describe(&conn, &image, None).await?);
            }
            Ok(out)
        })
    }

    /// Every image of the remote's namespace, by name.
    pub fn images(&self) -> Result<Vec<ImageInfo>> {
        let conn = self.inner.conn.clone();
        crate::call::wait(async {
            let mut out = Vec::new();
            for image in store::list(&conn).await? {
                match store::describe(&conn, &image, None).await {
                    Ok(info) => out.push(info),
                    // Its content is gone (or was never there): not an image one can use.
                    Err(e) if matches!(e.code(), Code::NotFound) => log::debug!("image {}: {e}", image.name),
                    Err(e) => return Err(e),
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    /// Removes image `reference`; containerd's garbage collector reclaims the content
    /// (and snapshots) nothing else refers to before this returns. Containers running
    /// from it keep running.
    pub fn remove_image(&self, reference: &str) -> Result<()> {
        let name = Reference::parse(reference)?.to_string();
        let conn = self.inner.conn.clone();
        crate::call::wait(store::delete(&conn, &name))
    }
}
