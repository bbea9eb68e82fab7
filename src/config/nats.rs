//! The NATS credential and TLS flags of one identity, shared by `liaison serve` and the commands that
//! connect to NATS themselves.

use std::path::PathBuf;

use crate::bus::{NatsAuth, NatsTls};

/// One identity's credential flags, as given.
#[derive(Debug, Clone, Default)]
pub struct NatsCredentialFlags {
    pub creds: Option<PathBuf>,
    pub nkey: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// The one credential of `--<prefix>-creds`, `-nkey` or `-user`/`-password`.
pub fn nats_auth(prefix: &str, flags: NatsCredentialFlags) -> Result<NatsAuth, String> {
    match (flags.creds, flags.nkey, flags.user, flags.password) {
        (None, None, None, Some(_)) => Err(format!("{prefix}-password needs {prefix}-user")),
        (None, None, None, None) => Ok(NatsAuth::None),
        (Some(path), None, None, None) => Ok(NatsAuth::CredentialsFile(path)),
        (None, Some(path), None, None) => Ok(NatsAuth::Nkey(path)),
        (None, None, Some(user), password) => {
            Ok(NatsAuth::UserPassword { user, password: password.unwrap_or_default() })
        }
        _ => Err(format!("give one of {prefix}-creds, {prefix}-nkey or {prefix}-user, not several")),
    }
}

/// TLS to NATS from `--nats-tls-ca`, `--nats-tls-cert` and `--nats-tls-key`; every file must exist.
pub fn nats_tls(ca: Option<PathBuf>, cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<NatsTls, String> {
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("nats-tls-cert and nats-tls-key go together".into()),
    };
    for path in ca.iter().chain(client_cert.iter().flat_map(|(cert, key)| [cert, key])) {
        std::fs::metadata(path).map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(NatsTls { ca, client_cert })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_credential_per_identity() {
        let nkey = NatsCredentialFlags { nkey: Some("runtime.nk".into()), ..Default::default() };
        assert_eq!(nats_auth("nats", nkey.clone()).unwrap(), NatsAuth::Nkey("runtime.nk".into()));
        let both = NatsCredentialFlags { user: Some("gw".into()), ..nkey };
        assert!(nats_auth("nats-provision", both).unwrap_err().contains("nats-provision-nkey"));
        let lone = NatsCredentialFlags { password: Some("secret".into()), ..Default::default() };
        assert_eq!(nats_auth("nats", lone).unwrap_err(), "nats-password needs nats-user");
        assert_eq!(nats_auth("nats", NatsCredentialFlags::default()).unwrap(), NatsAuth::None);
    }

    #[test]
    fn tls_files_must_exist_and_cert_goes_with_key() {
        assert_eq!(nats_tls(None, None, None).unwrap(), NatsTls::default());
        assert!(nats_tls(None, Some("cert.pem".into()), None).unwrap_err().contains("go together"));
        assert!(nats_tls(Some("/no/such/ca.pem".into()), None, None).is_err());
    }
}
