//! Sessions in Redis: 256-bit random tokens, stored only as their SHA-256, with an idle timeout and
//! an absolute lifetime.
//!
//! Keys: `session:<sha256 hex>` holds the session (JSON) with the idle timeout as TTL;
//! `user-sessions:<user id>` is the set of a user's session ids, for listing and revoking. The token
//! itself never reaches Redis or a log: a leaked Redis dump cannot be replayed as a login.

use base64::Engine;
use domain::UserId;
use kv::Kv;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub absolute_lifetime: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(7 * 24 * 3600),
            absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The SHA-256 of the token, hex: safe to show and to use in URLs.
    #[serde(skip)]
    pub id: String,
    pub user_id: UserId,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The secret a client presents; its `Debug` hides it.
pub struct Token(String);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Sessions untouched this recently are not rewritten on every request.
const LAST_SEEN_GRANULARITY: i64 = 60;

#[derive(Clone)]
pub struct SessionStore {
    kv: Kv,
    policy: SessionPolicy,
}

impl SessionStore {
    pub fn new(kv: Kv, policy: SessionPolicy) -> Self {
        Self { kv, policy }
    }

    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Starts a new session (a fresh id on every login) and returns the token to hand to the client.
    pub async fn create(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        ip: Option<&str>,
    ) -> Result<(Token, Session), SessionError> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| SessionError::Random(e.to_string()))?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        let now = now();
        let session = Session {
            id: session_id(&token),
            user_id,
            created_at: now,
            last_seen_at: now,
            user_agent: user_agent.map(|ua| ua.chars().take(200).collect()),
            ip: ip.map(str::to_owned),
        };
        let mut conn = self.kv.conn().await?;
        let ttl = self.ttl(&session, now);
        let value = serde_json::to_string(&session).unwrap_or_default();
        redis::pipe()
            .atomic()
            .set_ex(self.session_key(&session.id), value, ttl)
            .sadd(self.user_key(user_id), &session.id)
            .expire(
                self.user_key(user_id),
                self.policy.absolute_lifetime.as_secs() as i64,
            )
            .exec_async(&mut conn)
            .await?;
        Ok((Token(token), session))
    }

    /// The live session a token belongs to, refreshing its idle timeout; `None` if unknown or over.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Session>, SessionError> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let id = session_id(token);
        let key = self.session_key(&id);
        let mut conn = self.kv.conn().await?;
        // Read and renew the idle timeout in one round trip; only a session near its absolute
        // end needs a shorter expiry, set below.
        let idle = self.policy.idle_timeout.as_secs().max(1);
        let raw: Option<String> = redis::cmd("GETEX")
            .arg(&key)
            .arg("EX")
            .arg(idle)
            .query_async(&mut conn)
            .await?;
        let Some(mut session) = raw.and_then(|raw| serde_json::from_str::<Session>(&raw).ok())
        else {
            return Ok(None);
        };
        session.id = id;
        let now = now();
        if now >= session.created_at + self.policy.absolute_lifetime.as_secs() as i64 {
            self.revoke(session.user_id, &session.id).await?;
            return Ok(None);
        }
        let ttl = self.ttl(&session, now);
        if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
            session.last_seen_at = now;
            let value = serde_json::to_string(&session).unwrap_or_default();
            // XX: only if still there, so a logout racing this refresh cannot be undone by it.
            let _: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("EX")
                .arg(ttl)
                .arg("XX")
                .query_async(&mut conn)
                .await?;
        } else if ttl < idle {
            let _: () = conn.expire(&key, ttl as i64).await?;
        }
        Ok(Some(session))
    }

    /// The user's live sessions, newest first; forgets ids whose session has ended.
    pub async fn list(&self, user_id: UserId) -> Result<Vec<Session>, SessionError> {
        let mut conn = self.kv.conn().await?;
        let ids: Vec<String> = conn.smembers(self.user_key(user_id)).await?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let keys: Vec<String> = ids.iter().map(|id| self.session_key(id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let mut sessions = Vec::new();
        let mut ended = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value.and_then(|v| serde_json::from_str::<Session>(&v).ok()) {
                Some(mut session) => {
                    session.id = id;
                    sessions.push(session);
                }
                None => ended.push(id),
            }
        }
        if !ended.is_empty() {
            let _: () = conn.srem(self.user_key(user_id), ended).await?;
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    /// Ends one of the user's sessions (and its sockets); false if the user has no such session.
    pub async fn revoke(&self, user_id: UserId, session_id: &str) -> Result<bool, SessionError> {
        let mut conn = self.kv.conn().await?;
        let removed: i64 = conn.srem(self.user_key(user_id), session_id).await?;
        let deleted: i64 = conn.del(self.session_key(session_id)).await?;
        // Its open sockets close now, on every gateway; were this lost, they would at their next
        // ping, which checks the session.
        if let Err(error) = kv::session_ends::announce(&self.kv, user_id, session_id).await {
            tracing::warn!(%error, "cannot announce an ended session");
        }
        Ok(removed + deleted > 0)
    }

    /// Ends every session of the user but `keep`; returns how many ended.
    pub async fn revoke_others(&self, user_id: UserId, keep: &str) -> Result<usize, SessionError> {
        let mut ended = 0;
        for session in self.list(user_id).await? {
            if session.id != keep && self.revoke(user_id, &session.id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    fn ttl(&self, session: &Session, now: i64) -> u64 {
        let remaining = session.created_at + self.policy.absolute_lifetime.as_secs() as i64 - now;
        (self.policy.idle_timeout.as_secs() as i64)
            .min(remaining)
            .max(1) as u64
    }

    fn session_key(&self, id: &str) -> String {
        kv::session_key(&self.kv, id)
    }

    fn user_key(&self, user_id: UserId) -> String {
        self.kv.key(format_args!("user-sessions:{user_id}"))
    }
}

fn session_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
