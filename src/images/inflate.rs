//! Gzip layers decompressed as they download, into the content store as their
//! uncompressed tar, so that containerd's Diff.Apply of a layer only untars it.
//!
//! Unpacking is a chain: each layer is applied over the one below it, one at a time,
//! and containerd's applier spends about half of each layer's time inflating gzip on
//! one core. A pull that unpacks therefore sends each gzip layer's bytes, as they
//! arrive from the registry, both to the content store as they are (the image's blob)
//! and through a decompressor into a second, temporary blob whose digest must be the
//! layer's diff id (containerd checks it at the commit). The applier then gets the
//! uncompressed blob: decompression has happened beside the applies of the lower
//! layers, on another core, instead of inside the chain. The image recorded is the
//! same; the temporary blob lives under the pull's lease and is deleted once applied.
//!
//! This is an optimisation only: when the decompressor or the second write fails for
//! any reason, the layer is applied from its compressed blob as before and containerd
//! reports what is wrong with it.

use std::future::Future;
use std::io::Write as _;

use bytes::Bytes;
use containerd_client::services::v1::DeleteContentRequest;
use containerd_client::types::Descriptor as CtrDescriptor;
use flate2::write::MultiGzDecoder;
use futures_util::{Stream, StreamExt as _};
use tokio::sync::mpsc;

use super::content::{self, BlobTarget};
use super::lease::Lease;
use super::manifest;
use crate::remote::connection::Connection;
use crate::error::{Code, Error, Result};

/// Size of the uncompressed pieces sent to the content store.
const PIECE: usize = 1 << 20;

/// Compressed chunks queued for the decompressor.
const FEED_DEPTH: usize = 16;

/// Whether a layer of `media_type` is gzip-compressed.
pub fn is_gzip(media_type: &str) -> bool {
    media_type == manifest::OCI_LAYER_GZIP || media_type == manifest::DOCKER_LAYER_GZIP
}

/// A layer's uncompressed blob in the content store, to apply instead of the layer.
#[derive(Debug, Clone)]
pub struct Inflated {
    /// Its descriptor (the OCI tar media type, the diff id, the uncompressed size).
    pub desc: CtrDescriptor,
    /// This pull wrote it (and deletes it once applied); false when the store had it.
    pub temporary: bool,
}

/// The sending end of a decompression: the layer's compressed chunks go in, in order.
pub struct Feed {
    tx: mpsc::Sender<Bytes>,
}

impl Feed {
    /// The compressed stream `data` as it is, each chunk also passed on to the
    /// decompression (dropped once the decompression has given up); the input ends
    /// when the returned stream is dropped.
    pub fn tee<S>(self, data: S) -> impl Stream<Item = Result<Bytes>> + Unpin
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let tx = self.tx;
        Box::pin(data.then(move |item| {
            let tx = tx.clone();
            async move {
                if let Ok(chunk) = &item {
                    // An error means the decompression is over: the chunk is not needed.
                    let _ = tx.send(chunk.clone()).await;
                }
                item
            }
        }))
    }
}

/// Starts decompressing a gzip layer into the content store under `lease`, as the blob
/// `diff_id` gives (the layer's uncompressed digest; `None`: nothing is written).
/// Returns the feed for the compressed chunks and the future of the result: the
/// uncompressed blob, or `None` (the reason logged) when it could not be made. Input
/// cut short commits nothing: containerd checks the digest at the commit.
pub fn start<'a>(
    lease: &'a Lease,
    diff_id: impl Future<Output = Option<String>> + 'a,
    source: &'a str,
) -> (Feed, impl Future<Output = Option<Inflated>> + 'a) {
    let (feed_tx, feed_rx) = mpsc::channel::<Bytes>(FEED_DEPTH);
    let (out_tx, out_rx) = mpsc::channel::<Result<Bytes>>(2);
    let inflating = tokio::task::spawn_blocking(move || inflate(feed_rx, out_tx));
    let result = async move {
        // Until the diff id is known, the decompressed pieces wait in the channel (and
        // the download with them, briefly: the config comes first).
        let diff_id = diff_id.await?;
        let what = format!("layer {diff_id} from {source}, decompressed");
        let target = BlobTarget { digest: &diff_id, size: None, labels: Default::default(), source: &what, verified: true };
        let written = content::write_blob(lease, target, tokio_stream::wrappers::ReceiverStream::new(out_rx), None).await;
        let size = match inflating.await {
            Ok(Ok(size)) => size,
            Ok(Err(e)) => {
                log::debug!("{what}: {e}; applying the compressed blob");
                return None;
            }
            Err(e) => {
                log::warn!("{what}: the decompression stopped: {e}; applying the compressed blob");
                return None;
            }
        };
        match written {
            Ok(created) => {
                let desc = CtrDescriptor { media_type: manifest::OCI_LAYER.into(), digest: diff_id.clone(), size: size as i64, annotations: Default::default() };
                Some(Inflated { desc, temporary: created })
            }
            Err(e) => {
                log::debug!("{what}: {e}; applying the compressed blob");
                None
            }
        }
    };
    (Feed { tx: feed_tx }, result)
}

/// The decompressor (on a blocking thread): inflates what comes in on `input` and
/// sends it on in pieces of about [`PIECE`] bytes; returns the uncompressed size. A
/// stream that is not whole gzip ends `output` with an error, so nothing is committed.
fn inflate(mut input: mpsc::Receiver<Bytes>, output: mpsc::Sender<Result<Bytes>>) -> Result<u64> {
    let mut decoder = MultiGzDecoder::new(Vec::with_capacity(PIECE * 2));
    let mut total = 0u64;
    let mut flush = |decoder: &mut MultiGzDecoder<Vec<u8>>, at_least: usize| -> Result<()> {
        let out = decoder.get_mut();
        if out.len() >= at_least && !out.is_empty() {
            total += out.len() as u64;
            let piece = Bytes::from(std::mem::replace(out, Vec::with_capacity(PIECE * 2)));
            output.blocking_send(Ok(piece)).map_err(|_| Error::new(Code::Cancelled, "the uncompressed blob's writer is gone"))?;
        }
        Ok(())
    };
    let fail = |output: &mpsc::Sender<Result<Bytes>>, e: Error| {
        let _ = output.blocking_send(Err(e.clone()));
        e
    };
    while let Some(chunk) = input.blocking_recv() {
        if let Err(e) = decoder.write_all(&chunk) {
            return Err(fail(&output, Error::new(Code::Io, format!("gzip: {e}"))));
        }
        flush(&mut decoder, PIECE)?;
    }
    if let Err(e) = decoder.try_finish() {
        return Err(fail(&output, Error::new(Code::Io, format!("gzip: {e}"))));
    }
    flush(&mut decoder, 0)?;
    Ok(total)
}

/// Deletes a temporary uncompressed blob once its layer is applied, in the
/// background: the next layer does not wait for it. Failures are only logged (once
/// the pull's lease ends nothing holds the blob, and containerd's collector takes it).
pub fn discard(conn: &Connection, inflated: &Inflated) {
    if !inflated.temporary {
        return;
    }
    let (conn, digest) = (conn.clone(), inflated.desc.digest.clone());
    crate::runtime::handle().spawn(async move {
        let req = DeleteContentRequest { digest: digest.clone() };
        if let Err(s) = content::content(&conn).delete(conn.request(req)).await {
            log::debug!("delete the uncompressed blob {digest}: {}", s.message());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Runs the decompressor over `input` cut into `chunk`-byte pieces; its result and
    /// what it sent on.
    fn run(input: &[u8], chunk: usize) -> (Result<u64>, Vec<Result<Bytes>>) {
        let (in_tx, in_rx) = mpsc::channel(FEED_DEPTH);
        let (out_tx, mut out_rx) = mpsc::channel(1024);
        let pieces: Vec<Bytes> = input.chunks(chunk).map(Bytes::copy_from_slice).collect();
        let feeder = std::thread::spawn(move || {
            for p in pieces {
                let _ = in_tx.blocking_send(p);
            }
        });
        let result = inflate(in_rx, out_tx);
        feeder.join().unwrap();
        let mut out = Vec::new();
        while let Ok(item) = out_rx.try_recv() {
            out.push(item);
        }
        (result, out)
    }

    #[test]
    fn a_multi_member_stream_comes_out_whole_in_pieces() {
        let a: Vec<u8> = (0..3 * PIECE as u32).map(|i| (i % 251) as u8).collect();
        let b = b"second member".to_vec();
        let mut input = gzip(&a);
        input.extend(gzip(&b));
        let (result, out) = run(&input, 7_919);
        let out: Vec<Bytes> = out.into_iter().map(|r| r.unwrap()).collect();
        assert!(out.iter().all(|p| p.len() <= PIECE * 2), "pieces stay about PIECE long");
        assert!(out.len() >= 3);
        let joined: Vec<u8> = out.concat();
        assert_eq!(result.unwrap(), (a.len() + b.len()) as u64);
        assert_eq!(joined, [a, b].concat());
    }

    #[test]
    fn data_that_is_not_gzip_ends_the_output_with_an_error() {
        let (result, out) = run(b"this is not gzip at all, not even close", 5);
        assert_eq!(result.unwrap_err().code(), Code::Io);
        assert!(matches!(out.last(), Some(Err(e)) if e.code() == Code::Io), "{out:?}");
    }

    #[test]
    fn gzip_media_types_are_recognised() {
        assert!(is_gzip("application/vnd.oci.image.layer.v1.tar+gzip"));
        assert!(is_gzip("application/vnd.docker.image.rootfs.diff.tar.gzip"));
        assert!(!is_gzip("application/vnd.oci.image.layer.v1.tar+zstd"));
        assert!(!is_gzip(manifest::OCI_LAYER));
    }
}
