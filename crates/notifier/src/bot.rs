//! The bot's conversation with users: `/start <token>` links a chat, `/stop` unlinks it.
//!
//! Long polling (`getUpdates`) with the offset advanced past each handled update, so Telegram
//! forgets what was handled.

use crate::{text, Notifier};
use domain::{UnlinkReason, UserId};
use std::time::Duration;
use teloxide::payloads::setters::*;
use teloxide::prelude::*;
use teloxide::types::{ParseMode, UpdateKind};

pub(crate) async fn poll(notifier: Notifier) {
    // Where the last bot instance stopped, so a restart does not answer an update twice.
    let offset_key = notifier.kv.key(format_args!("telegram:update-offset"));
    let mut offset: i32 = match notifier.kv.conn().await {
        Ok(mut conn) => redis::AsyncCommands::get::<_, Option<i32>>(&mut conn, &offset_key)
            .await
            .ok()
            .flatten()
            .unwrap_or(0),
        Err(_) => 0,
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        let updates = notifier
            .telegram
            .bot
            .get_updates()
            .offset(offset)
            .timeout(notifier.config.poll_timeout.as_secs() as u32)
            .await;
        let updates = match updates {
            Ok(updates) => {
                backoff = Duration::from_millis(500);
                updates
            }
            Err(error) => {
                tracing::warn!(%error, "getUpdates failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        for update in updates {
            offset =
                offset.max(i32::try_from(update.id.0).map_or(i32::MAX, |id| id.saturating_add(1)));
            if let Ok(mut conn) = notifier.kv.conn().await {
                let stored: Result<(), _> =
                    redis::AsyncCommands::set(&mut conn, &offset_key, offset).await;
                if let Err(error) = stored {
                    tracing::warn!(%error, "cannot store the bot's update offset");
                }
            }
            if let UpdateKind::Message(message) = update.kind {
                if let Some(text) = message.text() {
                    // A group would share every preview with all its members: private chats only.
                    let reply = if message.chat.is_private() {
                        handle(&notifier, message.chat.id.0, text).await
                    } else {
                        text::PRIVATE_ONLY.to_owned()
                    };
                    if let Err(error) = notifier
                        .telegram
                        .bot
                        .send_message(message.chat.id, reply)
                        .parse_mode(ParseMode::Html)
                        .await
                    {
                        tracing::warn!(%error, "cannot answer a bot command");
                    }
                }
            }
        }
    }
}

/// The reply to one text message in a private chat.
async fn handle(notifier: &Notifier, chat: i64, text: &str) -> String {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or_default();
    // Commands may come as `/start@BotName` in some clients.
    let command = command.split('@').next().unwrap_or_default();
    match command {
        "/start" => match words.next() {
            None => text::START_WITHOUT_TOKEN.to_owned(),
            Some(token) => link(notifier, chat, token).await,
        },
        "/stop" => unlink(notifier, chat).await,
        _ => text::HELP.to_owned(),
    }
}

async fn link(notifier: &Notifier, chat: i64, token: &str) -> String {
    let user = match kv::link_tokens::take(&notifier.kv, token).await {
        Ok(Some(user)) => user,
        Ok(None) => return text::INVALID_TOKEN.to_owned(),
        Err(error) => {
            tracing::error!(%error, "cannot check a link token");
            return "Something went wrong; please try again in a minute.".to_owned();
        }
    };
    // A chat belongs to one account: an earlier account linked to this chat is unlinked.
    if let Ok(Some(previous)) =
        projections::telegram::user_of_chat(notifier.store.pool(), chat).await
    {
        let previous = UserId::from_uuid(previous);
        if previous != user {
            if let Err(error) = notifier
                .accounts
                .unlink_telegram(previous, UnlinkReason::Relinked)
                .await
            {
                tracing::warn!(%error, "cannot unlink the chat's previous account");
            }
        }
    }
    match notifier.accounts.link_telegram(user, chat).await {
        Ok(profile) => {
            tracing::info!(user_id = %user, "telegram linked");
            text::linked(profile.username.as_str(), profile.display_name.as_str())
        }
        Err(error) => {
            tracing::error!(%error, "cannot link a telegram chat");
            "Something went wrong; please try again in a minute.".to_owned()
        }
    }
}

async fn unlink(notifier: &Notifier, chat: i64) -> String {
    let user = match projections::telegram::user_of_chat(notifier.store.pool(), chat).await {
        Ok(Some(user)) => UserId::from_uuid(user),
        Ok(None) => return text::NOT_LINKED.to_owned(),
        Err(error) => {
            tracing::error!(%error, "cannot look up a chat's account");
            return "Something went wrong; please try again in a minute.".to_owned();
        }
    };
    match notifier
        .accounts
        .unlink_telegram(user, UnlinkReason::Stopped)
        .await
    {
        Ok(_) => match notifier.accounts.profile(user).await {
            Ok(profile) => text::unlinked(profile.username.as_str()),
            Err(_) => text::NOT_LINKED.to_owned(),
        },
        Err(error) => {
            tracing::error!(%error, "cannot unlink a telegram chat");
            "Something went wrong; please try again in a minute.".to_owned()
        }
    }
}
