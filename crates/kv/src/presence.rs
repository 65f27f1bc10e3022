//! The presence read model: a user is online while at least one of their sockets is open on any
//! gateway.
//!
//! Each socket is an entry `connection id -> expiry` in the user's sorted set `presence:<user>`,
//! refreshed by its gateway's heartbeat. A crashed gateway stops refreshing, so its entries expire
//! and a sweep (any gateway's) declares those users offline within one TTL. `presence:online` holds
//! the users believed online, scored by their latest expiry, so the sweep looks only at candidates.
//! Transitions are decided by Redis replies (`ZREM` returning 1), so exactly one process announces
//! each change even when several sweep at once.

use crate::Kv;
use domain::UserId;
use redis::AsyncCommands;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceStatus {
    pub online: bool,
    /// At least one socket is open *and visible* (not a page in a background tab): the user would
    /// see a message now. Notifications are skipped only then.
    pub attentive: bool,
    /// Unix seconds of the last time the user was seen online; `None` if never.
    pub last_seen: Option<i64>,
}

#[derive(Clone)]
pub struct Presence {
    kv: Kv,
    /// How long a socket counts as open without a heartbeat.
    ttl: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Presence {
    pub fn new(kv: Kv, ttl: Duration) -> Self {
        Self { kv, ttl }
    }

    /// The Redis handle, for other small models that live beside presence.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn user_key(&self, user: UserId) -> String {
        self.kv.key(format_args!("presence:{user}"))
    }

    fn attentive_key(&self, user: UserId) -> String {
        self.kv.key(format_args!("presence-attentive:{user}"))
    }

    fn online_key(&self) -> String {
        self.kv.key(format_args!("presence:online"))
    }

    fn last_seen_key(&self, user: UserId) -> String {
        self.kv.key(format_args!("last-seen:{user}"))
    }

    /// Records an open socket; true if the user was offline until now.
    pub async fn connect(&self, user: UserId, connection: &str) -> redis::RedisResult<bool> {
        let now = now_ms();
        let expiry = now + self.ttl.as_millis() as i64;
        let key = self.user_key(user);
        let mut conn = self.kv.conn().await?;
        let (_, before, _, _, _, _): ((), i64, (), (), (), ()) = redis::pipe()
            .atomic()
            .zrembyscore(&key, "-inf", now)
            .zcard(&key)
            .zadd(&key, connection, expiry)
            .zadd(self.attentive_key(user), connection, expiry)
            .cmd("ZADD")
            .arg(self.online_key())
            .arg("GT")
            .arg(expiry)
            .arg(user.to_string())
            .set(self.last_seen_key(user), now / 1000)
            .query_async(&mut conn)
            .await?;
        Ok(before == 0)
    }

    /// Records a closed socket; true if it was the user's last one.
    pub async fn disconnect(&self, user: UserId, connection: &str) -> redis::RedisResult<bool> {
        let now = now_ms();
        let key = self.user_key(user);
        let mut conn = self.kv.conn().await?;
        let (removed, _, _, left): (i64, (), (), i64) = redis::pipe()
            .atomic()
            .zrem(&key, connection)
            .zrem(self.attentive_key(user), connection)
            .zrembyscore(&key, "-inf", now)
            .zcard(&key)
            .query_async(&mut conn)
            .await?;
        if removed == 0 || left > 0 {
            return Ok(false);
        }
        self.went_offline(user, now / 1000).await
    }

    /// Records whether a socket's page is visible (a background tab is online but not attentive).
    pub async fn set_visible(
        &self,
        user: UserId,
        connection: &str,
        visible: bool,
    ) -> redis::RedisResult<()> {
        let mut conn = self.kv.conn().await?;
        if visible {
            let expiry = now_ms() + self.ttl.as_millis() as i64;
            conn.zadd(self.attentive_key(user), connection, expiry)
                .await
        } else {
            conn.zrem(self.attentive_key(user), connection).await
        }
    }

    /// Keeps a gateway's sockets alive (and visible ones attentive); call well within the TTL.
    pub async fn heartbeat(&self, sockets: &[(UserId, String, bool)]) -> redis::RedisResult<()> {
        if sockets.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let expiry = now + self.ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        for (user, connection, visible) in sockets {
            pipe.zadd(self.user_key(*user), connection, expiry).ignore();
            if *visible {
                pipe.zadd(self.attentive_key(*user), connection, expiry)
                    .ignore();
            }
            pipe.cmd("ZADD")
                .arg(self.online_key())
                .arg("GT")
                .arg(expiry)
                .arg(user.to_string())
                .ignore();
            pipe.set(self.last_seen_key(*user), now / 1000).ignore();
        }
        let mut conn = self.kv.conn().await?;
        pipe.exec_async(&mut conn).await
    }

    /// Users whose every socket expired (their gateway died); each is returned by one caller only.
    pub async fn sweep(&self) -> redis::RedisResult<Vec<UserId>> {
        let now = now_ms();
        let mut conn = self.kv.conn().await?;
        let candidates: Vec<String> = conn.zrangebyscore(self.online_key(), "-inf", now).await?;
        let mut offline = Vec::new();
        for candidate in candidates {
            let Ok(id) = uuid::Uuid::parse_str(&candidate) else {
                continue;
            };
            let user = UserId::from_uuid(id);
            let key = self.user_key(user);
            let (_, left): ((), i64) = redis::pipe()
                .zrembyscore(&key, "-inf", now)
                .zcard(&key)
                .query_async(&mut conn)
                .await?;
            if left == 0 && self.went_offline(user, now / 1000).await? {
                offline.push(user);
            }
        }
        Ok(offline)
    }

    async fn went_offline(&self, user: UserId, at: i64) -> redis::RedisResult<bool> {
        let mut conn = self.kv.conn().await?;
        let removed: i64 = conn.zrem(self.online_key(), user.to_string()).await?;
        if removed == 1 {
            let _: () = conn.set(self.last_seen_key(user), at).await?;
        }
        Ok(removed == 1)
    }

    /// Whether each of `users` is online, in one round trip (a conversation list shows many).
    pub async fn online(&self, users: &[UserId]) -> redis::RedisResult<Vec<bool>> {
        if users.is_empty() {
            return Ok(vec![]);
        }
        let now = now_ms();
        let mut pipe = redis::pipe();
        for user in users {
            pipe.zcount(self.user_key(*user), now, "+inf");
        }
        let mut conn = self.kv.conn().await?;
        let counts: Vec<i64> = pipe.query_async(&mut conn).await?;
        Ok(counts.into_iter().map(|live| live > 0).collect())
    }

    pub async fn status(&self, user: UserId) -> redis::RedisResult<PresenceStatus> {
        let now = now_ms();
        let mut conn = self.kv.conn().await?;
        let (live, attentive, last_seen): (i64, i64, Option<i64>) = redis::pipe()
            .zcount(self.user_key(user), now, "+inf")
            .zcount(self.attentive_key(user), now, "+inf")
            .get(self.last_seen_key(user))
            .query_async(&mut conn)
            .await?;
        Ok(PresenceStatus {
            online: live > 0,
            attentive: attentive > 0,
            last_seen,
        })
    }

    /// Forgets every socket of every user (an operator's reset of the model): everyone looks
    /// offline until their gateway's next heartbeat records their open sockets again. Last-seen
    /// times are kept. Returns how many keys were deleted.
    pub async fn reset(&self) -> redis::RedisResult<u64> {
        let mut deleted = 0;
        for pattern in ["presence:*", "presence-attentive:*"] {
            deleted += self.kv.delete_matching(pattern).await?;
        }
        Ok(deleted)
    }
}
