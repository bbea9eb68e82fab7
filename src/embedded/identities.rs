//! The two NKEY identities of an embedded nats-server (src/bus/permissions.rs says what each may do):
//! seed files in `<data-dir>/nats/`, mode 0600, created on first start and reused after.

use std::path::{Path, PathBuf};

/// The runtime identity's seed file in a data directory.
pub fn runtime_seed(data_dir: &Path) -> PathBuf {
    data_dir.join("nats").join("runtime.nk")
}

/// The provisioning identity's seed file in a data directory.
pub fn provisioning_seed(data_dir: &Path) -> PathBuf {
    data_dir.join("nats").join("provision.nk")
}

/// Seed files and public keys of both identities.
#[derive(Debug, Clone)]
pub struct NatsIdentities {
    pub runtime_seed: PathBuf,
    pub runtime_public: String,
    pub provisioning_seed: PathBuf,
    pub provisioning_public: String,
}

/// Failures to create or read a seed file.
#[derive(Debug, thiserror::Error)]
#[error("NATS identity {path}: {reason}")]
pub struct IdentityError {
    pub path: String,
    pub reason: String,
}

// === impl NatsIdentities ===

impl NatsIdentities {
    /// Loads both identities of `data_dir`, creating the missing ones.
    pub fn load_or_create(data_dir: &Path) -> Result<NatsIdentities, IdentityError> {
        let runtime_seed = runtime_seed(data_dir);
        let provisioning_seed = provisioning_seed(data_dir);
        Ok(NatsIdentities {
            runtime_public: load_or_create_seed(&runtime_seed)?,
            runtime_seed,
            provisioning_public: load_or_create_seed(&provisioning_seed)?,
            provisioning_seed,
        })
    }
}

/// The public key of the user seed in `path`.
pub fn public_key(path: &Path) -> Result<String, IdentityError> {
    let error = |reason: String| IdentityError { path: path.display().to_string(), reason };
    let seed = std::fs::read_to_string(path).map_err(|io| error(io.to_string()))?;
    let pair = nkeys::KeyPair::from_seed(seed.trim()).map_err(|bad| error(format!("not an NKEY seed: {bad}")))?;
    Ok(pair.public_key())
}

fn load_or_create_seed(path: &Path) -> Result<String, IdentityError> {
    if path.exists() {
        return public_key(path);
    }
    let error = |reason: String| IdentityError { path: path.display().to_string(), reason };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|io| error(io.to_string()))?;
    }
    let pair = nkeys::KeyPair::new_user();
    let seed = pair.seed().map_err(|bad| error(bad.to_string()))?;
    // Whole, and only if absent: two processes starting at once cannot both write a seed; the loser reads
    // the winner's, never half of it.
    match crate::files::create_whole(path, format!("{seed}\n").as_bytes(), 0o600) {
        Ok(()) => {}
        Err(io) if io.kind() == std::io::ErrorKind::AlreadyExists => return public_key(path),
        Err(io) => return Err(error(io.to_string())),
    }
    tracing::info!(path = %path.display(), "created a NATS identity");
    Ok(pair.public_key())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn seeds_are_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = NatsIdentities::load_or_create(dir.path()).unwrap();
        assert!(first.runtime_public.starts_with('U'));
        assert_ne!(first.runtime_public, first.provisioning_public);
        for seed in [&first.runtime_seed, &first.provisioning_seed] {
            assert_eq!(std::fs::metadata(seed).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = NatsIdentities::load_or_create(dir.path()).unwrap();
        assert_eq!(again.runtime_public, first.runtime_public);
        assert_eq!(again.provisioning_public, first.provisioning_public);
    }
}
