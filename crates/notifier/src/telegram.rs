//! The Telegram Bot API through teloxide, with failures sorted into what to do about them.

use std::time::Duration;
use teloxide::payloads::setters::*;
use teloxide::prelude::*;
use teloxide::types::{LinkPreviewOptions, MessageId, ParseMode};
use teloxide::{ApiError, RequestError};

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// 429: wait this long before the next call to this chat.
    #[error("rate limited for {0:?}")]
    RetryAfter(Duration),
    /// 403: the user blocked the bot (or deleted the chat): unlink.
    #[error("the user blocked the bot")]
    Blocked,
    /// The message to edit or delete is gone; nothing left to do.
    #[error("the message is gone")]
    Gone,
    /// Network trouble or a server error before the request reached Telegram: retry with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// The request may have reached Telegram (a timeout, a connection lost mid-way): resending
    /// could show the message twice.
    #[error("uncertain: {0}")]
    Uncertain(String),
}

fn classify(error: RequestError) -> TelegramError {
    match error {
        RequestError::RetryAfter(seconds) => TelegramError::RetryAfter(seconds.duration()),
        RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        ) => TelegramError::Blocked,
        RequestError::Api(
            ApiError::MessageToEditNotFound
            | ApiError::MessageToDeleteNotFound
            | ApiError::MessageIdInvalid
            | ApiError::MessageCantBeDeleted,
        ) => TelegramError::Gone,
        RequestError::Api(ApiError::Unknown(text)) if text.starts_with("Forbidden") => {
            TelegramError::Blocked
        }
        RequestError::Network(error) if !error.is_connect() && !error.is_builder() => {
            TelegramError::Uncertain(error.to_string())
        }
        other => TelegramError::Transient(other.to_string()),
    }
}

fn disabled_previews() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

#[derive(Clone)]
pub struct Telegram {
    pub bot: Bot,
}

impl Telegram {
    /// `api_url` points the production code at another Bot API server (a local one, or a test's).
    pub fn new(token: &str, api_url: url::Url) -> Self {
        Self {
            bot: Bot::new(token).set_api_url(api_url),
        }
    }

    pub async fn username(&self) -> Result<String, TelegramError> {
        let me = self.bot.get_me().await.map_err(classify)?;
        Ok(me.username.clone().unwrap_or_default())
    }

    pub async fn send_html(&self, chat: i64, html: &str) -> Result<i32, TelegramError> {
        let message = self
            .bot
            .send_message(ChatId(chat), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(disabled_previews())
            .await
            .map_err(classify)?;
        Ok(message.id.0)
    }

    pub async fn edit_html(
        &self,
        chat: i64,
        message: i32,
        html: &str,
    ) -> Result<(), TelegramError> {
        match self
            .bot
            .edit_message_text(ChatId(chat), MessageId(message), html)
            .parse_mode(ParseMode::Html)
            .link_preview_options(disabled_previews())
            .await
        {
            Ok(_) => Ok(()),
            // Same text as before: nothing to change.
            Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(other) => Err(classify(other)),
        }
    }

    pub async fn delete(&self, chat: i64, message: i32) -> Result<(), TelegramError> {
        match self
            .bot
            .delete_message(ChatId(chat), MessageId(message))
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match classify(error) {
                TelegramError::Gone => Ok(()),
                other => Err(other),
            },
        }
    }
}
