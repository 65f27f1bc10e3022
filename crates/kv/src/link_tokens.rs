//! One-time tokens that link a Telegram chat to an account: made by the web API, spent by the bot.
//!
//! Stored only as their SHA-256 with a TTL; `GETDEL` spends one atomically, so a token links at most
//! one chat even if sent twice at once.

use crate::Kv;
use base64::Engine;
use domain::UserId;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LinkTokenError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no randomness available: {0}")]
    Random(String),
}

fn key(kv: &Kv, token: &str) -> String {
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    kv.key(format_args!("telegram-link:{digest}"))
}

/// A fresh token for `user`, valid for `ttl`. 43 URL-safe characters (Telegram's `start` payload
/// allows up to 64 of `A-Z a-z 0-9 _ -`).
pub async fn create(kv: &Kv, user: UserId, ttl: Duration) -> Result<String, LinkTokenError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| LinkTokenError::Random(e.to_string()))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    let mut conn = kv.conn().await?;
    let _: () = redis::cmd("SET")
        .arg(key(kv, &token))
        .arg(user.to_string())
        .arg("EX")
        .arg(ttl.as_secs().max(1))
        .query_async(&mut conn)
        .await?;
    Ok(token)
}

/// Spends a token: the user it was made for, or `None` if unknown, used or expired.
pub async fn take(kv: &Kv, token: &str) -> Result<Option<UserId>, LinkTokenError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    let mut conn = kv.conn().await?;
    let user: Option<String> = redis::cmd("GETDEL")
        .arg(key(kv, token))
        .query_async(&mut conn)
        .await?;
    Ok(user
        .and_then(|u| uuid::Uuid::parse_str(&u).ok())
        .map(UserId::from_uuid))
}
