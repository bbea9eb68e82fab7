//! TLS material: a local certificate authority and server certificate that `liaison serve` creates in its
//! data directory when no certificate is configured (rcgen), and the names in a client certificate that
//! mutual TLS maps to a party (x509-parser).

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM files of a server identity and the CA that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Failures creating or reading TLS material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// A certificate authority that can issue server and client certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Authority, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(error)?;
        let pem = params.self_signed(&key).map_err(error)?.pem();
        Ok(Authority { issuer: Issuer::new(params, key), pem })
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.pem
    }

    /// Issues a certificate (PEM certificate, PEM private key) for `names` (DNS names or IP addresses),
    /// with `common_name` as its subject CN.
    pub fn issue(&self, common_name: &str, names: &[String]) -> Result<(String, String), TlsError> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(error)?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate().map_err(error)?;
        let certificate = params.signed_by(&key, &self.issuer).map_err(error)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }
}

fn error(error: impl std::fmt::Display) -> TlsError {
    TlsError(error.to_string())
}

/// The server identity in `<data_dir>/tls/`, created on first use for `localhost`, `127.0.0.1`, `::1` and
/// `extra_names`. Clients trust `ca.pem`.
pub fn ensure_local(data_dir: &Path, extra_names: &[String]) -> Result<TlsFiles, TlsError> {
    let dir = data_dir.join("tls");
    let files = TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") };
    if files.ca.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    fs::create_dir_all(&dir).map_err(|problem| TlsError(format!("{}: {problem}", dir.display())))?;
    let authority = Authority::new("Liaison local CA")?;
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    names.extend(extra_names.iter().filter(|name| !names.contains(name)).cloned().collect::<Vec<_>>());
    let (cert, key) = authority.issue("liaison-gateway", &names)?;
    // The CA goes last: clients (and `liaison` client commands) take an existing `ca.pem` to mean the
    // identity is complete, and each file appears whole, by rename, or not at all.
    write(&files.key, &key, 0o600)?;
    write(&files.cert, &cert, 0o644)?;
    write(&files.ca, authority.certificate_pem(), 0o644)?;
    tracing::info!(ca = %files.ca.display(), "created a local CA and server certificate; clients trust ca.pem");
    Ok(files)
}

/// Writes `text` to `path` with `mode`, whole ([`crate::files`]).
fn write(path: &Path, text: &str, mode: u32) -> Result<(), TlsError> {
    crate::files::write_whole(path, text.as_bytes(), mode)
        .map_err(|problem| TlsError(format!("{}: {problem}", path.display())))
}

/// The names a certificate (DER) carries: its subject CN, then its DNS SANs.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::*;
    let Ok((_, certificate)) = X509Certificate::from_der(der) else { return Vec::new() };
    let mut names: Vec<String> =
        certificate.subject().iter_common_name().filter_map(|name| name.as_str().ok().map(str::to_string)).collect();
    if let Ok(Some(alternatives)) = certificate.subject_alternative_name() {
        for name in &alternatives.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.to_string());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_local_identity_is_three_whole_files_and_only_the_key_is_private() {
        let data = tempfile::tempdir().unwrap();
        let files = ensure_local(data.path(), &["gw.example".to_string()]).unwrap();
        let mut names: Vec<String> = fs::read_dir(data.path().join("tls"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ca.pem", "server-key.pem", "server.pem"], "no temporary file is left behind");
        assert!(fs::read_to_string(&files.ca).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(fs::read_to_string(&files.key).unwrap().contains("PRIVATE KEY"));
        assert_eq!((mode(&files.ca), mode(&files.cert), mode(&files.key)), (0o644, 0o644, 0o600));
    }

    #[test]
    fn an_identity_missing_its_ca_is_made_again_and_a_whole_one_is_kept() {
        let data = tempfile::tempdir().unwrap();
        let first = ensure_local(data.path(), &[]).unwrap();
        let cert = fs::read_to_string(&first.cert).unwrap();
        assert_eq!(fs::read_to_string(&ensure_local(data.path(), &[]).unwrap().cert).unwrap(), cert);
        fs::remove_file(&first.ca).unwrap();
        let again = ensure_local(data.path(), &[]).unwrap();
        assert!(again.ca.exists());
        assert_ne!(fs::read_to_string(&again.cert).unwrap(), cert, "a new CA signs a new server certificate");
    }
}
