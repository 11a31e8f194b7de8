//! containerd's images service: image records (name → root descriptor) created,
//! updated, listed, read and deleted, and the description of an image the C ABI
//! returns (`image_json`).

use std::collections::{BTreeMap, HashMap};

use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{
    CreateImageRequest, DeleteImageRequest, GetImageRequest, Image, ListImagesRequest, UpdateImageRequest,
};
use containerd_client::types::Descriptor as ProtoDescriptor;
use serde::Serialize;
use tonic::transport::Channel;

use super::content;
use super::lease::Lease;
use super::manifest::{self, ContainerConfig, Descriptor, ImageConfig, Manifest, Platform};
use crate::error::{Code, Error, Result};
use crate::remote::connection::Connection;

/// An image as the library describes it (`image_json` of the C ABI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The normalised reference (`docker.io/library/busybox:latest`).
    pub name: String,
    /// The digest of the record's target (the index or the manifest).
    pub digest: String,
    /// Bytes of content the image refers to (index, manifest, config and layers).
    pub size: u64,
    /// `os/architecture[/variant]` of the image's config.
    pub platform: String,
    /// When the image was built (the config's `created`), else when it was recorded.
    pub created: String,
    /// The record's labels.
    pub labels: BTreeMap<String, String>,
    /// Defaults for a container's process.
    pub config: ContainerConfig,
}

fn images(conn: &Connection) -> ImagesClient<Channel> {
    conn.images()
}

/// The manifest of `target` for this host: `target` itself when it is a manifest;
/// for an index, the entry for `platform` (else the host's) that is in the content
/// store. Returns the manifest's descriptor, config and layers.
pub async fn resolve_manifest(
    conn: &Connection,
    target: &Descriptor,
    platform: Option<&Platform>,
) -> Result<(Descriptor, Descriptor, Vec<Descriptor>)> {
    let bytes = content::read_blob(conn, &target.digest, manifest::MAX_DOCUMENT).await?;
    match manifest::parse(&bytes, Some(&target.media_type))? {
        Manifest::Image { config, layers, .. } => Ok((target.clone(), config, layers)),
        Manifest::Index { manifests, .. } => {
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let mut candidates: Vec<&Descriptor> =
                manifests.iter().filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p))).collect();
            candidates.extend(manifests.iter().filter(|d| d.platform.is_none()));
            for d in candidates {
                if content::info(conn, &d.digest).await?.is_some() {
                    let bytes = content::read_blob(conn, &d.digest, manifest::MAX_DOCUMENT).await?;
                    if let Manifest::Image { config, layers, .. } = manifest::parse(&bytes, Some(&d.media_type))? {
                        return Ok((d.clone(), config, layers));
                    }
                }
            }
            Err(Error::not_found(format!("image index {} has no manifest for {want} in the content store", target.digest)))
        }
    }
}

/// The record `name`; NOT_FOUND when there is none.
pub async fn get(conn: &Connection, name: &str) -> Result<Image> {
    let resp = conn
        .call(name.to_string(), |c, n| async move { images(&c).get(c.request(GetImageRequest { name: n })).await })
        .await
        .map_err(|s| Error::from_status(format!("image {name:?}"), &s))?;
    resp.image.ok_or_else(|| Error::not_found(format!("image {name:?}: not found")))
}

/// Every record in the namespace.
pub async fn list(conn: &Connection) -> Result<Vec<Image>> {
    let resp = conn
        .call((), |c, _| async move { images(&c).list(c.request(ListImagesRequest { filters: vec![] })).await })
        .await
        .map_err(|s| Error::from_status("list images", &s))?;
    Ok(resp.images)
}

/// `d` as containerd's API carries it.
pub fn proto(d: &Descriptor) -> ProtoDescriptor {
    ProtoDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: d.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// Creates record `name` pointing at `target`, or points an existing one there.
pub async fn put(lease: &Lease, conn: &Connection, name: &str, target: &Descriptor, labels: HashMap<String, String>) -> Result<Image> {
    let image = Image {
        name: name.to_string(),
        labels,
        target: Some(ProtoDescriptor { annotations: HashMap::new(), ..proto(target) }),
        created_at: None,
        updated_at: None,
    };
    let req = CreateImageRequest { image: Some(image.clone()), source_date_epoch: None };
    match images(conn).create(lease.request(req)).await {
        Ok(r) => return r.into_inner().image.ok_or_else(|| Error::internal("containerd returned no image")),
        Err(s) if s.code() == tonic::Code::AlreadyExists => {}
        Err(s) => return Err(Error::from_status(format!("create image {name:?}"), &s)),
    }
    let mask = prost_types::FieldMask { paths: vec!["target".into(), "labels".into()] };
    let req = UpdateImageRequest { image: Some(image), update_mask: Some(mask), source_date_epoch: None };
    let r = images(conn)
        .update(lease.request(req))
        .await
        .map_err(|s| Error::from_status(format!("update image {name:?}"), &s))?;
    r.into_inner().image.ok_or_else(|| Error::internal("containerd returned no image"))
}

/// Deletes record `name` and lets containerd's garbage collector reclaim what only
/// it referred to before returning.
pub async fn delete(conn: &Connection, name: &str) -> Result<()> {
    conn.call(name.to_string(), |c, n| async move {
        images(&c).delete(c.request(DeleteImageRequest { name: n, sync: true, target: None })).await
    })
    .await
    .map_err(|s| Error::from_status(format!("remove image {name:?}"), &s))?;
    Ok(())
}

/// The target of `image` as a descriptor.
pub fn target(image: &Image) -> Result<Descriptor> {
    let t = image.target.as_ref().ok_or_else(|| Error::new(Code::FailedPrecondition, format!("image {:?} has no target", image.name)))?;
    Ok(Descriptor { media_type: t.media_type.clone(), digest: t.digest.clone(), size: t.size, platform: None, annotations: Default::default() })
}

/// Describes record `image` from its content (manifest and config).
pub async fn describe(conn: &Connection, image: &Image, platform: Option<&Platform>) -> Result<ImageInfo> {
    let root = target(image)?;
    let (man, config_desc, layers) = resolve_manifest(conn, &root, platform).await?;
    let config_bytes = content::read_blob(conn, &config_desc.digest, manifest::MAX_DOCUMENT).await?;
    describe_parts(image, &root, &man, &config_desc, &layers, &config_bytes)
}

/// Describes record `image` whose target `root` resolves to manifest `man` with its
/// config (`config_bytes`) and layers (what a pull has in hand).
pub fn describe_parts(image: &Image, root: &Descriptor, man: &Descriptor, config_desc: &Descriptor, layers: &[Descriptor], config_bytes: &[u8]) -> Result<ImageInfo> {
    let config = ImageConfig::parse(config_bytes)?;
    let mut size = man.size + config_desc.size + layers.iter().map(|l| l.size).sum::<i64>();
    if root.digest != man.digest {
        size += root.size;
    }
    let created = config
        .created
        .clone()
        .or_else(|| image.created_at.as_ref().map(crate::timefmt::rfc3339_timestamp))
        .unwrap_or_default();
    Ok(ImageInfo {
        name: image.name.clone(),
        digest: root.digest.clone(),
        size: size.max(0) as u64,
        platform: config.platform().to_string(),
        created,
        labels: image.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        config: config.config.unwrap_or_default(),
    })
}
