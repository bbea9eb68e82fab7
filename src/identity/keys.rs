//! The gateway's Ed25519 signing key: created on first start, kept as PKCS#8 PEM (mode 0600).

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};

/// File name of the signing key inside the data directory.
pub const SIGNING_KEY_FILE: &str = "signing-key.pem";

/// Folder of trusted public keys (SPKI PEM, one per file) inside the data directory: keys retired by a
/// rotation, or other gateways' keys. Tokens signed by any of them verify; a retired key's only for
/// `--retired-key-grace` after its retirement, recorded beside it in `<name>.retired.toml`.
pub const TRUSTED_KEYS_DIR: &str = "trusted-keys";

/// Suffix of the file beside a retired key's `<name>.pem` that says when it was retired.
pub(super) const RETIRED_SUFFIX: &str = ".retired.toml";

/// A trusted public key of the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: String,
    /// SPKI PEM.
    pub public_pem: String,
    /// When a rotation retired it (Unix seconds); `None` for keys an operator added (other gateways'),
    /// which stay trusted until removed.
    pub retired_at: Option<u64>,
}

/// The record beside a retired key.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RetiredKeyFile {
    #[serde(with = "time::serde::rfc3339")]
    retired_at: time::OffsetDateTime,
}

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
        fs::create_dir_all(data_dir)
            .map_err(|error| KeyError::File { path: data_dir.to_path_buf(), reason: error.to_string() })?;
        SigningKey::create_file(&path)
    }

    /// Creates a new key in a new file at `path` (mode 0600); an existing file is never overwritten. For
    /// `--signing-key`, the one key every gateway of a deployment shares.
    pub fn create_file(path: &Path) -> Result<SigningKey, KeyError> {
        let file_error = |reason: String| KeyError::File { path: path.to_path_buf(), reason };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| file_error(error.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|error| file_error(error.to_string()))?;
        // Whole or not at all, and never over a key that is there already.
        crate::files::create_whole(path, pem.as_bytes(), 0o600).map_err(|error| file_error(error.to_string()))?;
        tracing::info!(path = %path.display(), "created a new token signing key");
        Ok(SigningKey::from_key(key))
    }

    /// Loads an existing key from `data_dir`.
    pub fn load(data_dir: &Path) -> Result<SigningKey, KeyError> {
        SigningKey::load_file(&data_dir.join(SIGNING_KEY_FILE))
    }

    /// Loads an existing key from a PKCS#8 PEM file (`--signing-key`: one key shared by a cluster).
    pub fn load_file(path: &Path) -> Result<SigningKey, KeyError> {
        let path = path.to_path_buf();
        if !path.exists() {
            return Err(KeyError::Missing(path));
        }
        let pem = fs::read_to_string(&path)
            .map_err(|error| KeyError::File { path: path.clone(), reason: error.to_string() })?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
            .map_err(|error| KeyError::File { path, reason: format!("not an Ed25519 PKCS#8 key: {error}") })?;
        Ok(SigningKey::from_key(key))
    }

    /// Retires the current key into the trusted keys (so tokens it signed stay valid until they expire, for
    /// the retired-key grace at most), records when, and starts signing with a new one.
    pub fn rotate(data_dir: &Path) -> Result<SigningKey, KeyError> {
        let current = SigningKey::load(data_dir)?;
        let trusted = data_dir.join(TRUSTED_KEYS_DIR);
        let file_error =
            |path: &Path, error: std::io::Error| KeyError::File { path: path.to_path_buf(), reason: error.to_string() };
        fs::create_dir_all(&trusted).map_err(|error| file_error(&trusted, error))?;
        let record = RetiredKeyFile { retired_at: time::OffsetDateTime::now_utc() };
        let record = toml::to_string(&record)
            .map_err(|error| KeyError::File { path: trusted.clone(), reason: error.to_string() })?;
        let record_path = trusted.join(format!("{}{RETIRED_SUFFIX}", current.kid()));
        let comment = "# Written by `liaison token rotate-key`: when this key stopped signing. Gateways trust it\n\
                       # for --retired-key-grace after this time; delete this file to trust it until removed.\n";
        // Whole: running gateways read the trusted keys while this writes them.
        crate::files::write_whole(&record_path, format!("{comment}{record}").as_bytes(), 0o644)
            .map_err(|error| file_error(&record_path, error))?;
        let retired = trusted.join(format!("{}.pem", current.kid()));
        crate::files::write_whole(&retired, current.public_pem().as_bytes(), 0o644)
            .map_err(|error| file_error(&retired, error))?;
        let path = data_dir.join(SIGNING_KEY_FILE);
        let replaced = data_dir.join(format!("{SIGNING_KEY_FILE}.retired"));
        fs::rename(&path, &replaced).map_err(|error| file_error(&path, error))?;
        let new = SigningKey::load_or_create(data_dir)?;
        fs::remove_file(&replaced).map_err(|error| file_error(&replaced, error))?;
        Ok(new)
    }

    fn from_key(key: ed25519_dalek::SigningKey) -> SigningKey {
        let kid = kid_of(&key.verifying_key());
        SigningKey { key, kid }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM, for the JWT encoder.
    pub(super) fn private_pem(&self) -> String {
        self.key.to_pkcs8_pem(LineEnding::LF).map(|pem| pem.to_string()).unwrap_or_default()
    }

    /// The public key as SPKI PEM, for the JWT verifier and audit checkpoint verification.
    pub fn public_pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// An Ed25519 signature of `message`, in hex (signed audit checkpoints).
    pub fn sign(&self, message: &[u8]) -> String {
        use ed25519_dalek::Signer;
        self.key.sign(message).to_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// Whether `signature` (hex) is a valid Ed25519 signature of `message` by the SPKI PEM public key.
pub fn verify_signature(public_pem: &str, message: &[u8], signature: &str) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(public_pem) else { return false };
    let bytes: Option<Vec<u8>> = (0..signature.len())
        .step_by(2)
        .map(|index| signature.get(index..index + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    let Some(Ok(bytes)) = bytes.map(<[u8; 64]>::try_from) else { return false };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok()
}

fn kid_of(key: &ed25519_dalek::VerifyingKey) -> String {
    key.to_bytes()[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The trusted public keys of a data directory, as (key id, SPKI PEM), sorted by key id, retired or not
/// (audit checkpoints signed by a retired key still verify).
pub fn trusted_public_keys(data_dir: &Path) -> Result<Vec<(String, String)>, KeyError> {
    Ok(trusted_keys(data_dir)?.into_iter().map(|key| (key.kid, key.public_pem)).collect())
}

/// The trusted public keys of a data directory with when each was retired, sorted by key id.
pub fn trusted_keys(data_dir: &Path) -> Result<Vec<TrustedKey>, KeyError> {
    let dir = data_dir.join(TRUSTED_KEYS_DIR);
    let Ok(entries) = fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "pem") {
            continue;
        }
        let file_error = |reason: String| KeyError::File { path: path.clone(), reason };
        let pem = fs::read_to_string(&path).map_err(|error| file_error(error.to_string()))?;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem)
            .map_err(|error| file_error(format!("not an Ed25519 public key: {error}")))?;
        let retired_at = retired_at(&path)?;
        keys.push(TrustedKey { kid: kid_of(&key), public_pem: pem, retired_at });
    }
    keys.sort_by(|left, right| left.kid.cmp(&right.kid));
    Ok(keys)
}

/// When the key in `pem_path` was retired, from the record beside it; `None` if there is none.
fn retired_at(pem_path: &Path) -> Result<Option<u64>, KeyError> {
    let stem = pem_path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
    let path = pem_path.with_file_name(format!("{stem}{RETIRED_SUFFIX}"));
    let Ok(text) = fs::read_to_string(&path) else { return Ok(None) };
    let record: RetiredKeyFile =
        toml::from_str(&text).map_err(|error| KeyError::File { path: path.clone(), reason: error.to_string() })?;
    Ok(Some(u64::try_from(record.retired_at.unix_timestamp()).unwrap_or(0)))
}
