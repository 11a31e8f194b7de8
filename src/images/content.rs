//! containerd's content store: blobs streamed in with Content.Write (an expected
//! digest and size, verified as they arrive) under a lease, and read back.

use std::collections::HashMap;

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::{
    Info, InfoRequest, ReadContentRequest, UpdateRequest,
    WriteAction, WriteContentRequest,
};
use sha2::{Digest as _, Sha256};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::lease::Lease;
use super::progress::Download;
use crate::error::{Code, Error, Result};
use crate::remote::connection::{Connection, CALL_TIMEOUT};

/// Largest data message sent to Content.Write (containerd accepts 16 MiB).
const WRITE_CHUNK: usize = 1 << 20;

/// Data messages sent to Content.Write before the first of them is answered (each
/// answer is a round trip through containerd; waiting for every one halves what a
/// fast source, such as a layer being decompressed, gets through).
const WRITES_IN_FLIGHT: usize = 4;

/// The content service.
pub fn content(conn: &Connection) -> ContentClient<Channel> {
    conn.content()
}

/// The content store's record of `digest`, `None` when it is not there.
pub async fn info(conn: &Connection, digest: &str) -> Result<Option<Info>> {
    match content(conn).info(conn.request(InfoRequest { digest: digest.to_string() })).await {
        Ok(r) => Ok(r.into_inner().info),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(Error::from_status(format!("content {digest}"), &s)),
    }
}

/// Reads blob `digest` whole: NOT_FOUND when the store lacks it, INVALID_ARGUMENT
/// when it is larger than `max` bytes.
pub async fn read_blob(conn: &Connection, digest: &str, max: u64) -> Result<Vec<u8>> {
    let req = ReadContentRequest { digest: digest.to_string(), offset: 0, size: 0 };
    let mut stream = conn
        .call(req, |c, r| async move { c.content().read(c.request(r)).await })
        .await
        .map_err(|s| Error::from_status(format!("read content {digest}"), &s))?;
    let mut out = Vec::new();
    while let Some(msg) = stream.next().await {
        let msg = msg.map_err(|s| Error::from_status(format!("read content {digest}"), &s))?;
        if (out.len() + msg.data.len()) as u64 > max {
            return Err(Error::invalid(format!("content {digest} is larger than the {max} bytes accepted")));
        }
        out.extend_from_slice(&msg.data);
    }
    Ok(out)
}

/// A blob to write: what it must turn out to be, and the labels it is committed with.
pub struct BlobTarget<'a> {
    /// The expected digest.
    pub digest: &'a str,
    /// The expected size; `None` when it is not known before the stream ends (a
    /// stream the library makes itself, checked by its digest alone).
    pub size: Option<u64>,
    /// Labels set at commit (GC references to children, ...).
    pub labels: HashMap<String, String>,
    /// Where the bytes come from, for messages (`registry 127.0.0.1:5000`).
    pub source: &'a str,
    /// The stream checks the digest itself and ends with an error on a mismatch (the
    /// registry client's blob streams do): the bytes are not hashed again here.
    pub verified: bool,
}

/// Streams a blob into the content store under `lease`: the bytes from `data` are
/// hashed (unless the stream checks them itself) and counted as they pass; more bytes
/// than expected, fewer, or another digest fail with IO naming the blob, and nothing
/// is committed (containerd checks the digest and size again at the commit). An
/// ingest left from an earlier attempt is restarted from the beginning. `progress`
/// (when given) reports the bytes written. Returns true when this call committed the
/// blob, false when the store had it already (its labels are then added).
pub async fn write_blob<S>(lease: &Lease, target: BlobTarget<'_>, data: S, mut progress: Option<&mut Download<'_>>) -> Result<bool>
where
    S: tokio_stream::Stream<Item = Result<bytes::Bytes>> + Unpin,
{
    let BlobTarget { digest, size, labels, source, verified } = target;
    let mismatch = |what: String| Error::new(Code::Io, format!("blob {digest} from {source}: {what}"));
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
    let ingest_ref = format!("{}-{digest}", lease.id());
    let base = WriteContentRequest {
        action: WriteAction::Stat as i32,
        r#ref: ingest_ref,
        total: size.unwrap_or(0) as i64,
        expected: digest.to_string(),
        ..Default::default()
    };
    let status = |s: tonic::Status| Error::from_status(format!("write content {digest}"), &s);
    tx.send(base.clone()).await.map_err(|_| Error::internal("content writer closed"))?;
    let req = lease.request_with_timeout(tokio_stream::wrappers::ReceiverStream::new(rx), None);
    let opened = match content(lease.conn()).write(req).await {
        Ok(r) => {
            let mut responses = r.into_inner();
            next_response(&mut responses, digest).await.map(|_| responses)
        }
        Err(s) => Err(status(s)),
    };
    let mut responses = match opened {
        Ok(r) => r,
        // Already in the store (committed meanwhile, or before): keep it, with our labels.
        Err(e) if e.code() == Code::AlreadyExists => return set_labels(lease, digest, labels).await.map(|_| false),
        Err(e) => return Err(e),
    };

    let mut hasher = Sha256::new();
    let mut offset: u64 = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
    let mut data = data;
    let mut ended = false;
    let mut in_flight = 0;
    while !ended {
        match data.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                if let Some(size) = size.filter(|&size| offset + buf.len() as u64 + chunk.len() as u64 > size) {
                    return Err(mismatch(format!("more than the {size} bytes its descriptor gives")));
                }
                if !verified {
                    hasher.update(&chunk);
                }
                buf.extend_from_slice(&chunk);
                if buf.len() < WRITE_CHUNK {
                    continue;
                }
            }
            None => ended = true,
        }
        let n = buf.len() as u64;
        if ended {
            if let Some(size) = size.filter(|&size| offset + n != size) {
                return Err(mismatch(format!("{} bytes, its descriptor gives {size}", offset + n)));
            }
            if !verified {
                let got = format!("sha256:{}", hex::encode(hasher.finalize_reset()));
                if got != digest {
                    return Err(mismatch(format!("content digest is {got}")));
                }
            }
            if let Some(p) = progress.as_deref_mut() {
                p.verifying();
            }
        }
        let msg = WriteContentRequest {
            action: if ended { WriteAction::Commit } else { WriteAction::Write } as i32,
            offset: offset as i64,
            total: if ended { (offset + n) as i64 } else { base.total },
            data: std::mem::take(&mut buf),
            labels: if ended { labels.clone() } else { HashMap::new() },
            ..base.clone()
        };
        tx.send(msg).await.map_err(|_| Error::new(Code::Unavailable, format!("write content {digest}: stream closed")))?;
        in_flight += 1;
        // Up to WRITES_IN_FLIGHT messages go unanswered; the commit waits for them all.
        while in_flight > if ended { 0 } else { WRITES_IN_FLIGHT } {
            in_flight -= 1;
            match next_response(&mut responses, digest).await {
                Ok(_) => {}
                // Someone else committed the same blob meanwhile: it is there.
                Err(e) if ended && in_flight == 0 && e.code() == Code::AlreadyExists => {
                    return set_labels(lease, digest, labels).await.map(|_| false)
                }
                Err(e) => return Err(e),
            }
        }
        offset += n;
        if let Some(p) = progress.as_deref_mut() {
            p.update(offset);
        }
    }
    Ok(true)
}

/// Adds `labels` to the content store's record of `digest` (others stay), and puts it
/// under `lease` until an image refers to it.
async fn set_labels(lease: &Lease, digest: &str, labels: HashMap<String, String>) -> Result<()> {
    lease.add_content(digest).await?;
    if labels.is_empty() {
        return Ok(());
    }
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    let info = Info { digest: digest.to_string(), labels, ..Default::default() };
    let req = UpdateRequest { info: Some(info), update_mask: Some(prost_types::FieldMask { paths }) };
    content(lease.conn()).update(lease.request(req)).await.map_err(|s| Error::from_status(format!("label content {digest}"), &s))?;
    Ok(())
}

async fn next_response(
    responses: &mut tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
    digest: &str,
) -> Result<containerd_client::services::v1::WriteContentResponse> {
    match tokio::time::timeout(CALL_TIMEOUT, responses.next()).await {
        Ok(Some(Ok(r))) => Ok(r),
        Ok(Some(Err(s))) => Err(Error::from_status(format!("write content {digest}"), &s)),
        Ok(None) => Err(Error::new(Code::Unavailable, format!("write content {digest}: containerd closed the stream"))),
        Err(_) => Err(Error::new(Code::DeadlineExceeded, format!("write content {digest}: containerd did not answer"))),
    }
}
