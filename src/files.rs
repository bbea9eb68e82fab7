//! Files of the data directory that another process may read while they are written (the local CA, the
//! signing key and the trusted keys, the NATS credentials, the embedded server's URL, the audit chain's
//! name and length): each appears
//! whole or not at all. The bytes go to a temporary file beside the target, which gets its mode, is synced
//! and is then renamed (or, where an existing file must win, linked) into place, so a reader never sees a
//! half-written file and a crash leaves the old file or none.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `bytes` to `path` with permissions `mode`, replacing what is there.
pub fn write_whole(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let file = staged(path, bytes, mode)?;
    file.persist(path).map_err(|failed| failed.error)?;
    Ok(())
}

/// Writes `bytes` to `path` with permissions `mode` only if nothing is there: otherwise an error of kind
/// `AlreadyExists`, and the file that was there first is kept. Of two processes starting at once, one
/// writes and the other reads the winner's file.
pub fn create_whole(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let file = staged(path, bytes, mode)?;
    file.persist_noclobber(path).map_err(|failed| failed.error)?;
    Ok(())
}

fn staged(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_whole_write_replaces_the_file_with_its_mode_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        write_whole(&path, b"first", 0o600).unwrap();
        assert_eq!((std::fs::read(&path).unwrap(), mode(&path)), (b"first".to_vec(), 0o600));
        write_whole(&path, b"second, longer", 0o644).unwrap();
        assert_eq!((std::fs::read(&path).unwrap(), mode(&path)), (b"second, longer".to_vec(), 0o644));
        assert_eq!(entries(dir.path()), ["ca.pem"]);
    }

    #[test]
    fn a_whole_create_keeps_the_file_that_was_there_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key.pem");
        create_whole(&path, b"winner", 0o600).unwrap();
        let refused = create_whole(&path, b"loser", 0o600).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!((std::fs::read(&path).unwrap(), mode(&path)), (b"winner".to_vec(), 0o600));
        assert_eq!(entries(dir.path()), ["signing-key.pem"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("url");
        assert_eq!(write_whole(&path, b"x", 0o644).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
