//! The server's secrets — the HS256 token-signing secret and the resident-key secret: configured,
//! read from a file, or generated on first run into the data directory (mode 0600) so a fresh
//! checkout works with no setup.
use crate::config::Config;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use std::path::PathBuf;

/// A secret could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("signing secret: {0}")]
pub struct SecretError(pub String);

/// Where the secret file lives.
pub fn secret_path(config: &Config) -> PathBuf {
    config.jwt_secret_file.clone().unwrap_or_else(|| config.data_dir.join("jwt-secret"))
}

/// Where the resident-key secret lives.
pub fn resident_key_path(config: &Config) -> PathBuf {
    config.resident_key_file.clone().unwrap_or_else(|| config.data_dir.join("resident-key"))
}

/// Returns the configured token secret, or the file's, generating the file when it does not exist.
pub fn load_or_create(config: &Config) -> Result<Vec<u8>, SecretError> {
    load_or_generate(
        config.jwt_secret.as_deref(),
        &secret_path(config),
        "generated a new token-signing secret; appoint the first Chief with: cityserve bootstrap-chief --help, then: cityserve token --role chief --subject <officer-id>",
    )
}

/// Returns the secret that derives resident keys, generating its file when it does not exist.
pub fn resident_key(config: &Config) -> Result<Vec<u8>, SecretError> {
    load_or_generate(
        config.resident_key.as_deref(),
        &resident_key_path(config),
        "generated a new resident-key secret; back it up: losing it unlinks residents from their history",
    )
}

/// Where the Open311 API-key secret lives.
pub fn api_key_secret_path(config: &Config) -> PathBuf {
    config.api_key_secret_file.clone().unwrap_or_else(|| config.data_dir.join("api-key-secret"))
}

/// Returns the secret Open311 API keys are derived from, generating its file when needed.
pub fn api_key_secret(config: &Config) -> Result<Vec<u8>, SecretError> {
    load_or_generate(
        config.api_key_secret.as_deref(),
        &api_key_secret_path(config),
        "generated a new Open311 API-key secret; give every replica the same one",
    )
}

/// The key follow-up survey tokens are signed with, derived from the token-signing secret (so
/// every replica signs and accepts the same survey links).
pub fn survey_key(config: &Config) -> Result<cityserve_domain::survey::SurveyKey, SecretError> {
    Ok(cityserve_domain::survey::SurveyKey::derived_from(&load_or_create(config)?))
}

/// The key page tokens are authenticated with, derived from the token-signing secret (so every
/// replica that verifies the same tokens accepts the same page tokens).
pub fn page_token_key(config: &Config) -> Result<cityserve_domain::PageKey, SecretError> {
    Ok(cityserve_domain::PageKey::derived_from(&load_or_create(config)?))
}

fn load_or_generate(inline: Option<&str>, path: &std::path::Path, generated: &str) -> Result<Vec<u8>, SecretError> {
    if let Some(s) = inline {
        return check(s.trim().as_bytes().to_vec());
    }
    let path = path.to_path_buf();
    match std::fs::read_to_string(&path) {
        Ok(s) => check(s.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 48];
            rand::rng().fill_bytes(&mut bytes);
            let secret = URL_SAFE_NO_PAD.encode(bytes);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| SecretError(format!("{}: {e}", dir.display())))?;
            }
            write_private(&path, secret.as_bytes())?;
            tracing::warn!(path = %path.display(), "{generated}");
            Ok(secret.into_bytes())
        }
        Err(e) => Err(SecretError(format!("{}: {e}", path.display()))),
    }
}

fn check(secret: Vec<u8>) -> Result<Vec<u8>, SecretError> {
    if secret.len() < 32 {
        return Err(SecretError("a secret must be at least 32 bytes".into()));
    }
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, data: &[u8]) -> Result<(), SecretError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SecretError(format!("{}: {e}", path.display())))?;
    f.write_all(data).map_err(|e| SecretError(format!("{}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, data: &[u8]) -> Result<(), SecretError> {
    std::fs::write(path, data).map_err(|e| SecretError(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir =
            std::env::temp_dir().join(format!("cityserve-secret-{}-{}", std::process::id(), rand::random::<u32>()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let a = load_or_create(&config).unwrap();
        let b = load_or_create(&config).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resident_key_is_its_own_secret() {
        let dir = std::env::temp_dir().join(format!("cityserve-rkey-{}-{}", std::process::id(), rand::random::<u32>()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let jwt = load_or_create(&config).unwrap();
        let key = resident_key(&config).unwrap();
        assert_ne!(jwt, key);
        assert_eq!(resident_key(&config).unwrap(), key);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn short_secrets_are_refused() {
        let config = Config { jwt_secret: Some("short".into()), ..Config::default() };
        assert!(load_or_create(&config).is_err());
    }
}
