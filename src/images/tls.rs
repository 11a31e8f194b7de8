//! The TLS of registry connections: rustls with ring, trusting the system's roots and a pull's `ca_file`.

use std::path::Path;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{panic_message, with_sources, Error, Result};

/// The certificates of the PEM bundle at `path` (a pull's `ca_file`): INVALID_ARGUMENT
/// when it cannot be read, is not PEM, or holds no certificate.
pub fn ca_bundle(path: &Path) -> Result<Vec<Certificate>> {
    let bad = |what: String| Error::invalid(format!("ca_file {}: {what}", path.display()));
    let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&data) {
        let der = cert.map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
        certs.push(Certificate { encoding: CertificateEncoding::Der, data: der.to_vec() });
    }
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// A registry client of `config(extra roots)`: the certificates go to its
/// `extra_root_certificates`, besides the system's roots (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR` or the usual places such as `/etc/ssl/certs`).
///
/// A host with no CA certificate at all cannot build one: rustls's platform verifier
/// refuses an empty set of system roots, and `oci-client` also builds a default HTTP
/// client beside the configured one, which panics then (even with extra roots). That is
/// FAILED_PRECONDITION naming the cause, for plain-HTTP registries too.
pub fn client(ca: Vec<Certificate>, config: impl FnOnce(Vec<Certificate>) -> ClientConfig) -> Result<oci_client::Client> {
    install_provider();
    let no_roots = |why: String| {
        Error::precondition(format!(
            "registry client: {why} (this host has no CA certificates: install them, e.g. Debian's ca-certificates, or name a bundle in SSL_CERT_FILE)"
        ))
    };
    // Checked first, so that no panic (and its message on stderr) comes of it; a host
    // seen with roots once is not checked again.
    static HAS_ROOTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !HAS_ROOTS.load(std::sync::atomic::Ordering::Relaxed) {
        if rustls_native_certs::load_native_certs().certs.is_empty() {
            return Err(no_roots("no CA certificate was found in SSL_CERT_FILE, SSL_CERT_DIR or the system's store".into()));
        }
        HAS_ROOTS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| oci_client::Client::try_from(config(ca)))) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(Error::invalid(format!("registry client: {}", with_sources(&e)))),
        // The check above passed, yet no root was usable (none parsed).
        Err(panic) => Err(no_roots(panic_message(panic))),
    }
}

/// Makes ring rustls's process-wide crypto provider unless the program chose one.
///
/// Registry connections use rustls: its client set-up is cheap (the system's roots are
/// parsed in a few milliseconds), where OpenSSL 3 took about 50 ms to load the CA bundle
/// for each HTTP client, twice per pull. `oci-client` builds its HTTP client itself and
/// takes the process default, so the library installs ring's provider, once, if no
/// provider is installed yet; a program that installs its own first keeps it.
fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err: another thread installed one meanwhile, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_invalid() {
        let dir = std::env::temp_dir().join(format!("lcd-tls-{}", std::process::id()));
        std::fs::write(&dir, "no certificate here\n").unwrap();
        let e = ca_bundle(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(e.message().contains("holds no PEM certificate"), "{e}");
        let e = ca_bundle(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(e.code(), crate::error::Code::InvalidArgument);
    }
}
