//! A party's identity: a fresh ECDSA P-256 key and a self-signed certificate
//! whose subject alternative name (and common name) is the party's name.
//!
//! The certificate is what the other parties pin in their `parties.toml`;
//! the key never leaves the party. Private key text is returned in a
//! [`Zeroizing`] string so it is wiped when dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("cannot make a certificate for party name {name:?}: {msg}")]
    Generate { name: String, msg: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// A fresh key and self-signed certificate for party `name`, both as PEM:
/// `(key_pem, cert_pem)`.
pub fn generate(name: &str) -> Result<(Zeroizing<String>, String), KeygenError> {
    let err = |e: rcgen::Error| KeygenError::Generate {
        name: name.to_string(),
        msg: e.to_string(),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        return Err(KeygenError::Generate {
            name: name.to_string(),
            msg: "use letters, digits, '-' and '.' only".into(),
        });
    }
    let mut key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(err)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).map_err(err)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    key.zeroize();
    Ok((key_pem, cert.pem()))
}

/// Generates an identity for `name` and writes `dir/NAME.key` (mode 0600 on
/// unix, never overwriting an existing key) and `dir/NAME.crt`. Returns the
/// two paths.
pub fn write_identity(name: &str, dir: &Path) -> Result<(PathBuf, PathBuf), KeygenError> {
    let (key_pem, cert_pem) = generate(name)?;
    let key_path = dir.join(format!("{name}.key"));
    let cert_path = dir.join(format!("{name}.crt"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeygenError::Io { path, source }
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&key_path).map_err(io(&key_path))?;
    f.write_all(key_pem.as_bytes()).map_err(io(&key_path))?;
    f.sync_all().map_err(io(&key_path))?;
    fs::write(&cert_path, cert_pem).map_err(io(&cert_path))?;
    Ok((key_path, cert_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_identities() {
        let (k1, c1) = generate("alice").expect("keygen");
        let (k2, c2) = generate("alice").expect("keygen");
        assert!(k1.contains("PRIVATE KEY") && c1.contains("CERTIFICATE"));
        assert_ne!(*k1, *k2);
        assert_ne!(c1, c2);
        assert!(generate("bad name").is_err());
        assert!(generate("").is_err());
    }

    #[test]
    fn writes_files_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("cryptflow-keygen-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let (key, cert) = write_identity("bob", &dir).expect("write");
        assert!(fs::read_to_string(&cert).expect("cert").contains("BEGIN CERTIFICATE"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_identity("bob", &dir).is_err(), "must not overwrite a key");
        let _ = fs::remove_dir_all(&dir);
    }
}
