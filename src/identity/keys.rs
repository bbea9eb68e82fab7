//! The gateway's Ed25519 signing key: created on first start, kept as PKCS#8 PEM (mode 0600).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};

/// File name of the signing key inside the data directory.
pub const SIGNING_KEY_FILE: &str = "signing-key.pem";

/// A loaded signing key with its key id.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    /// Key id: hex of the first 8 bytes of the public key, stable for the key's life.
    kid: String,
}

/// Problems with the key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("no signing key at {0}; start `liaison serve` once with this --data-dir, or pass the right --data-dir")]
    Missing(PathBuf),
}

// === impl SigningKey ===

impl SigningKey {
    /// Loads the key from `data_dir`, creating the directory and a new key if there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<SigningKey, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        if path.exists() {
            return SigningKey::load(data_dir);
        }
        let file_error = |reason: String| KeyError::File { path: path.clone(), reason };
        fs::create_dir_all(data_dir).map_err(|error| file_error(error.to_string()))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| file_error(error.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|error| file_error(error.to_string()))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| file_error(error.to_string()))?;
        file.write_all(pem.as_bytes()).map_err(|error| file_error(error.to_string()))?;
        tracing::info!(path = %path.display(), "created a new token signing key");
        Ok(SigningKey::from_key(key))
    }

    /// Loads an existing key from `data_dir`.
    pub fn load(data_dir: &Path) -> Result<SigningKey, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        if !path.exists() {
            return Err(KeyError::Missing(path));
        }
        let pem = fs::read_to_string(&path)
            .map_err(|error| KeyError::File { path: path.clone(), reason: error.to_string() })?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|error| KeyError::File { path, reason: format!("not an Ed25519 PKCS#8 key: {error}") })?;
        Ok(SigningKey::from_key(key))
    }

    fn from_key(key: ed25519_dalek::SigningKey) -> SigningKey {
        let public = key.verifying_key().to_bytes();
        let kid = public[..8].iter().map(|byte| format!("{byte:02x}")).collect();
        SigningKey { key, kid }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM, for the JWT encoder.
    pub(super) fn private_pem(&self) -> String {
        self.key.to_pkcs8_pem(LineEnding::LF).map(|pem| pem.to_string()).unwrap_or_default()
    }

    /// The public key as SPKI PEM, for the JWT verifier.
    pub(super) fn public_pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }
}
