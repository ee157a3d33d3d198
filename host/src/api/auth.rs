//! Who is calling: the admin token for the control API, a project's API key
//! for the app gateway. Keys are stored hashed; authenticated keys are cached
//! briefly so the gateway does not hit the database on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use crate::state::AppState;

/// How long an authenticated key is trusted without asking the store again.
/// Revocation through this host takes effect at once; through another host
/// within this time.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached keys at most; the cache is cleared when full.
const KEY_CACHE_MAX: usize = 10_000;
/// The header PostgREST clients send the key in.
pub const APIKEY: axum::http::HeaderName = axum::http::HeaderName::from_static("apikey");
/// Longest credential we look at; anything longer is refused unread.
const MAX_CREDENTIAL_BYTES: usize = 256;

/// An authenticated key and when the store last vouched for it; shared, not
/// copied, by every request that presents it.
type Cached = (Arc<magflock_store::ApiKey>, Instant);

#[derive(Default)]
pub struct KeyCache {
    map: Mutex<HashMap<[u8; 32], Cached>>,
}

impl KeyCache {
    pub fn invalidate_key(&self, key_id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, (k, _)| k.id != key_id);
        }
    }
}

/// The bearer credential of a request: `Authorization: Bearer <key>`, or the
/// `apikey` header as PostgREST clients send it.
pub fn credential(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let key = bearer.or_else(|| headers.get(&APIKEY).and_then(|v| v.to_str().ok()))?;
    let key = key.trim();
    (!key.is_empty() && key.len() <= MAX_CREDENTIAL_BYTES).then_some(key)
}

/// Requires the admin token (constant-time comparison).
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(given) = credential(headers) else {
        return Err(ApiError::unauthorized("send the admin token as `Authorization: Bearer <token>`"));
    };
    let expected = state.config.admin_token.as_bytes();
    if bool::from(given.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("the admin token is not valid"))
    }
}

/// The project API key of a request, if valid and not revoked.
pub async fn api_key(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Arc<magflock_store::ApiKey>>, ApiError> {
    let Some(secret) = credential(headers) else { return Ok(None) };
    let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    if let Ok(m) = state.keys.map.lock()
        && let Some((k, at)) = m.get(&digest)
        && at.elapsed() < KEY_CACHE_TTL
    {
        return Ok(Some(k.clone()));
    }
    let key = state.store.authenticate_api_key(secret).await?.map(Arc::new);
    if let (Some(k), Ok(mut m)) = (&key, state.keys.map.lock()) {
        if m.len() >= KEY_CACHE_MAX {
            m.clear();
        }
        m.insert(digest, (k.clone(), Instant::now()));
    }
    Ok(key)
}
