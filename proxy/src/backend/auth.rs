//! Scrambles for the client side of backend authentication.

use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
use mysql_common::auth::plugins::mysql_native_password::scramble_native;

/// The auth response for `plugin` given the server's nonce; `None` for a plugin we do not speak.
pub(super) fn auth_response(plugin: &[u8], nonce: &[u8], password: &str) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    match plugin {
        b"mysql_native_password" => scramble_native(nonce, password.as_bytes()).map(|s| s.to_vec()),
        b"caching_sha2_password" => {
            let nonce: &[u8; 20] = nonce.get(..20)?.try_into().ok()?;
            scramble_sha256(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
        b"mysql_clear_password" => {
            let mut out = password.as_bytes().to_vec();
            out.push(0);
            Some(out)
        }
        _ => None,
    }
}
