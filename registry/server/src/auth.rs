//! Who is calling: the admin token (from the configuration) or a host token
//! (created by an admin, stored as its sha256, identifying a host by name).

use axum::http::HeaderMap;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::Registry;
use crate::api::problem::ApiError;
use crate::store::Host;

/// Longest credential looked at; anything longer is refused unread.
const MAX_CREDENTIAL_BYTES: usize = 256;
/// Prefix of host tokens, so a leaked one is recognisable.
pub const HOST_TOKEN_PREFIX: &str = "mfh_";
/// The actor the audit log names for admin-token calls.
pub const ADMIN_ACTOR: &str = "admin";

/// The bearer credential of a request.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty() && token.len() <= MAX_CREDENTIAL_BYTES).then_some(token)
}

/// sha256 hex of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh host token: the prefix and 256 random bits, base64url.
pub fn new_host_token() -> Result<String, std::io::Error> {
    use rand::TryRngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(format!("{HOST_TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// Requires the admin token. Both sides are hashed first so the comparison
/// is constant-time in the token's length too.
pub fn require_admin(registry: &Registry, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(given) = credential(headers) else {
        return Err(ApiError::unauthorized("send the admin token as `Authorization: Bearer <token>`"));
    };
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(registry.config().admin_token.as_bytes());
    if bool::from(given.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("the admin token is not valid"))
    }
}

/// Requires a host token; returns the host it names.
pub async fn require_host(registry: &Registry, headers: &HeaderMap) -> Result<Host, ApiError> {
    let Some(token) = credential(headers) else {
        return Err(ApiError::unauthorized("send a host token as `Authorization: Bearer <token>`"));
    };
    if !token.starts_with(HOST_TOKEN_PREFIX) {
        return Err(ApiError::unauthorized("the host token is not valid"));
    }
    match registry.store().host_by_token_hash(&token_hash(token)).await? {
        Some(host) => Ok(host),
        None => Err(ApiError::unauthorized("the host token is not valid")),
    }
}
