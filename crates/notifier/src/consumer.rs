//! Notifications as a durable JetStream consumer of message and read events.
//!
//! Each JetStream message is acknowledged only once its notification was sent, edited, deleted or
//! deliberately skipped; otherwise it is redelivered later (after the grace delay, or Telegram's
//! `retry_after`). A handled-record per (message, recipient), written before anything is sent,
//! makes redeliveries and restarts send nothing twice.

use crate::decide::{
    self, Existing, Known, Live, Lookup, NewMessage, Next, OnRead, Reader, Withdraw,
};
use crate::telegram::TelegramError;
use crate::{store, text, Notifier};
use app::AppError;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::AckKind;
use chrono::Utc;
use domain::{ConversationId, UnlinkReason, UserId};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use wire::{Message, ServerFrame, SystemEntry, SystemKind};

pub const CONSUMER: &str = "notifications";
/// The durable consumer of versions that published an event once per recipient, on per-user
/// subjects. A new consumer starts where it had acknowledged everything, and it is deleted.
const EARLIER_CONSUMER: &str = "notifier";
const ACK_WAIT: Duration = Duration::from_secs(5);

/// What to do with a JetStream message after handling it.
enum Outcome {
    Done,
    Later(Duration),
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

pub(crate) async fn run(notifier: Notifier, shutdown: CancellationToken) {
    loop {
        if let Err(error) = consume(&notifier, &shutdown).await {
            tracing::warn!(%error, "notification consumer failed; restarting it");
        }
        if shutdown.is_cancelled() {
            return;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn consume(notifier: &Notifier, shutdown: &CancellationToken) -> Result<(), Failure> {
    let bus = &notifier.bus;
    let stream = bus.ensure_stream().await?;
    let earlier = stream.consumer_info(EARLIER_CONSUMER).await.ok();
    let deliver_policy = match &earlier {
        Some(info) => DeliverPolicy::ByStartSequence {
            start_sequence: info.ack_floor.stream_sequence + 1,
        },
        // A new deployment does not notify about old messages.
        None => DeliverPolicy::New,
    };
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.to_owned()),
                // Only message.new, read and conversation.muted frames matter; the others are skipped by subject,
                // unparsed (one filter: the broker may predate filters by several subjects).
                filter_subject: bus.all_conversations_subject(),
                ack_policy: AckPolicy::Explicit,
                // Messages a stopped notifier had fetched but not handled come back this soon.
                // A slow handling that outlives it is harmless: the handled-record is written
                // before sending, so the redelivered copy is acknowledged without a second send.
                ack_wait: ACK_WAIT,
                deliver_policy,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await?;
    if earlier.is_some() {
        stream.delete_consumer(EARLIER_CONSUMER).await?;
        tracing::info!("the notification consumer moved to conversation subjects");
    }
    // Small batches: fewer fetched-but-unhandled messages to wait for after a stop.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(20)
        .messages()
        .await?;
    loop {
        // Shutdown is honoured between messages only: a message being handled is finished, so a
        // stop never leaves a notification half-done.
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            message = messages.next() => message,
        };
        let Some(message) = message else {
            return Err("consumer ended".into());
        };
        let message = message?;
        let outcome = handle(notifier, &message).await;
        let ack = match outcome {
            Ok(Outcome::Done) => message.ack().await,
            Ok(Outcome::Later(delay)) => message.ack_with(AckKind::Nak(Some(delay))).await,
            Err(error) => {
                tracing::warn!(%error, "cannot handle a notification yet; retrying");
                message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                    .await
            }
        };
        if let Err(error) = ack {
            tracing::warn!(%error, "cannot acknowledge a JetStream message");
        }
    }
}

async fn handle(
    notifier: &Notifier,
    message: &async_nats::jetstream::Message,
) -> Result<Outcome, Failure> {
    let subject = message.subject.as_str();
    if ![".message.new", ".read", ".conversation.muted"]
        .iter()
        .any(|kind| subject.ends_with(kind))
    {
        return Ok(Outcome::Done);
    }
    let recipients = bus::recipients(message.headers.as_ref());
    match serde_json::from_slice(&message.payload)? {
        // A group's timeline entry ("ann added ben") is nobody's message to be told about; but
        // a member who leaves or is removed takes their pending notification with them.
        ServerFrame::MessageNew { message: new, .. } => match &new.system {
            Some(SystemEntry {
                kind: SystemKind::MemberLeft | SystemKind::MemberRemoved,
                member: Some(member),
                ..
            }) => {
                withdraw(
                    notifier,
                    UserId::from_uuid(member.id),
                    new.conversation_id,
                    Withdraw::Left,
                )
                .await
            }
            Some(_) => Ok(Outcome::Done),
            None => message_new(notifier, &new, recipients).await,
        },
        ServerFrame::Read {
            conversation_id,
            reader_id,
            up_to,
            ..
        } => {
            withdraw(
                notifier,
                UserId::from_uuid(reader_id),
                conversation_id,
                Withdraw::Read { up_to },
            )
            .await
        }
        // Only the member who muted receives the frame.
        ServerFrame::ConversationMuted {
            conversation_id,
            muted: true,
            ..
        } => {
            let mut outcome = Outcome::Done;
            for user in recipients {
                outcome =
                    outcome.and(withdraw(notifier, user, conversation_id, Withdraw::Muted).await?);
            }
            Ok(outcome)
        }
        _ => Ok(Outcome::Done),
    }
}

impl Outcome {
    /// Done only when both are; otherwise again after the shorter wait.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Done, Self::Done) => Self::Done,
            (Self::Later(a), Self::Later(b)) => Self::Later(a.min(b)),
            (Self::Later(a), Self::Done) | (Self::Done, Self::Later(a)) => Self::Later(a),
        }
    }
}

/// A new message for its recipients (a pair's peer, or every other member of a group). What
/// can be learnt for all of them at once is: whether it was handled for each (a redelivery),
/// and, in a group, who has a linked chat at all; the rest is looked up per remaining recipient.
/// A message younger than the grace delay waits before anything is looked up.
async fn message_new(
    notifier: &Notifier,
    message: &Message,
    recipients: Vec<UserId>,
) -> Result<Outcome, Failure> {
    let sender = UserId::from_uuid(message.sender.id);
    let recipients: Vec<UserId> = recipients
        .into_iter()
        .filter(|user| *user != sender)
        .collect();
    // The sender's own notification of a group goes: there, writing is reading. In a pair it
    // does not (the peer's messages stay unread), so a pair's message, the common case, costs
    // no lookup of the sender's notification.
    let in_pair = matches!(recipients.as_slice(),
        [peer] if ConversationId::for_pair(sender, *peer).as_uuid() == message.conversation_id);
    let wrote = if in_pair {
        Outcome::Done
    } else {
        withdraw(
            notifier,
            sender,
            message.conversation_id,
            Withdraw::Wrote { seq: message.seq },
        )
        .await?
    };
    if let Some(wait) = decide::too_young(message.sent_at, Utc::now(), notifier.config.grace) {
        return Ok(Outcome::Later(wait).and(wrote));
    }
    if recipients.is_empty() {
        return Ok(wrote);
    }
    let pool = notifier.store.pool();
    let ids: Vec<Uuid> = recipients.iter().map(UserId::as_uuid).collect();
    let handled = store::handled_among(pool, message.id, &ids).await?;
    let linked = if ids.len() > 1 {
        Some(projections::telegram::chats_of(pool, &ids).await?)
    } else {
        None
    };
    // Each recipient is handled on its own; a redelivery (one of them asked for later) finds
    // the others' handled-records and sends nothing twice.
    let mut outcome = Outcome::Done;
    for user in recipients {
        let mut known = Known {
            handled: Some(handled.contains(&user.as_uuid())),
            ..Known::default()
        };
        if linked
            .as_ref()
            .is_some_and(|linked| !linked.contains_key(&user.as_uuid()))
        {
            known.chat = Some(None);
        }
        outcome = outcome.and(message_for(notifier, user, message, known).await?);
    }
    Ok(outcome.and(wrote))
}

/// The new message for one recipient, starting from what is already `known`.
async fn message_for(
    notifier: &Notifier,
    user: UserId,
    message: &Message,
    mut known: Known,
) -> Result<Outcome, Failure> {
    let pool = notifier.store.pool();
    let recipient = user.as_uuid();
    let conversation = message.conversation_id;
    let new = NewMessage {
        sender: message.sender.id,
        seq: message.seq,
        sent_at: message.sent_at,
    };
    // A group's title, learnt with the membership; `None` for a pair.
    let mut title = None;
    let chat = loop {
        match decide::next(&new, recipient, Utc::now(), notifier.config.grace, &known) {
            Next::Look(Lookup::Handled) => {
                let handled = store::handled_among(pool, message.id, &[recipient]).await?;
                known.handled = Some(!handled.is_empty());
            }
            Next::Look(Lookup::Chat) => {
                known.chat = Some(notifier.accounts.telegram_chat(user).await?);
            }
            Next::Look(Lookup::Presence) => {
                known.attentive = Some(notifier.presence.status(user).await?.attentive);
            }
            Next::Look(Lookup::Reader) => {
                match notifier
                    .conversations
                    .for_member(ConversationId::from_uuid(conversation), user)
                    .await
                {
                    Ok(membership) => {
                        title = membership.roster().title().map(|t| t.as_str().to_owned());
                        known.reader = Some(Some(Reader {
                            read_up_to: membership.read_up_to(user),
                            muted: membership.is_muted(user),
                        }));
                    }
                    // Removed from the group (or left) since the message was sent.
                    Err(AppError::NotFound(_)) => known.reader = Some(None),
                    Err(error) => return Err(error.into()),
                }
            }
            Next::Look(Lookup::Existing) => {
                let existing = store::notification(pool, recipient, conversation).await?;
                known.existing = Some(existing.map(|n| Existing {
                    chat_id: n.chat_id,
                    delivered: n.telegram_message_id.is_some(),
                }));
            }
            Next::Ignore => return Ok(Outcome::Done),
            Next::Later(delay) => return Ok(Outcome::Later(delay)),
            Next::Skip(reason) if reason.recorded() => {
                store::mark_handled(pool, message.id, recipient, reason.as_str()).await?;
                return Ok(Outcome::Done);
            }
            Next::Skip(reason) => {
                metrics::counter!("notifications_total", "outcome" => reason.as_str()).increment(1);
                return Ok(Outcome::Done);
            }
            Next::Coalesce => break None,
            Next::Send { chat } => break Some(chat),
        }
    };
    let sender = message.sender.display_name.as_str();
    let preview = text::preview(message.body.as_deref().unwrap_or_default());
    let incoming = store::Incoming {
        message: message.id,
        user: recipient,
        conversation,
        seq: message.seq,
        sender_name: sender,
        preview: &preview,
        title: title.as_deref(),
    };
    let Some(chat) = chat else {
        store::coalesce(pool, &incoming).await?;
        return Ok(Outcome::Done);
    };
    store::begin_notification(pool, &incoming, chat).await?;
    let link = notifier.link(conversation);
    let html = match &title {
        Some(title) => {
            text::group_notification(title, &[sender.to_owned()], 1, sender, &preview, &link)
        }
        None => text::notification(sender, 1, &preview, &link),
    };
    match notifier.telegram.send_html(chat, &html).await {
        Ok(telegram_message) => {
            metrics::counter!("notifications_total", "outcome" => "sent").increment(1);
            record_sent(pool, recipient, conversation, telegram_message).await?;
            Ok(Outcome::Done)
        }
        Err(error) => {
            store::forget(pool, recipient, conversation).await?;
            match error {
                TelegramError::Blocked => {
                    notifier.unlink_blocked(user).await;
                    Ok(Outcome::Done)
                }
                TelegramError::RetryAfter(delay) => {
                    store::unmark_handled(pool, message.id, recipient).await?;
                    Ok(Outcome::Later(delay))
                }
                TelegramError::Transient(reason) => {
                    tracing::warn!(%reason, "sending a notification failed; will retry");
                    store::unmark_handled(pool, message.id, recipient).await?;
                    Ok(Outcome::Later(Duration::from_secs(2)))
                }
                TelegramError::Gone => Ok(Outcome::Done),
                // It may have been delivered: never risk a second copy (the handled-record stays).
                TelegramError::Uncertain(reason) => {
                    tracing::warn!(%reason, "a notification may or may not have been delivered; not resending");
                    Ok(Outcome::Done)
                }
            }
        }
    }
}

/// How long the id of a delivered notification is retried through a database outage.
const RECORD_SENT_PATIENCE: Duration = Duration::from_secs(300);

/// Records the Telegram message a notification became. Telegram has it now: if its id were not
/// recorded, the next message would take the notification for a send that never happened and
/// send a second one instead of editing this one. So a database outage between Telegram's answer
/// and this write is waited out rather than given up on.
async fn record_sent(
    pool: &sqlx::PgPool,
    recipient: Uuid,
    conversation: Uuid,
    telegram_message: i32,
) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + RECORD_SENT_PATIENCE;
    let mut wait = Duration::from_millis(200);
    loop {
        match store::sent(pool, recipient, conversation, telegram_message).await {
            Ok(()) => return Ok(()),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "cannot record a delivered notification yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The user read the conversation somewhere, wrote in the group, muted it, or left the group: the
/// notification goes away (for a read or a write, only once it holds nothing newer).
async fn withdraw(
    notifier: &Notifier,
    user: UserId,
    conversation: Uuid,
    why: Withdraw,
) -> Result<Outcome, Failure> {
    let pool = notifier.store.pool();
    let existing = store::notification(pool, user.as_uuid(), conversation).await?;
    let OnRead::Retract { telegram_message } = decide::withdraw(
        existing.as_ref().map(|n| Live {
            last_seq: n.last_seq,
            telegram_message: n.telegram_message_id,
            in_group: n.in_group,
        }),
        why,
    ) else {
        return Ok(Outcome::Done);
    };
    if let (Some(telegram_message), Some(existing)) = (telegram_message, existing) {
        match notifier
            .telegram
            .delete(existing.chat_id, telegram_message)
            .await
        {
            Ok(()) => {}
            Err(TelegramError::RetryAfter(delay)) => return Ok(Outcome::Later(delay)),
            Err(TelegramError::Transient(reason) | TelegramError::Uncertain(reason)) => {
                tracing::warn!(%reason, "deleting a notification failed; will retry");
                return Ok(Outcome::Later(Duration::from_secs(2)));
            }
            Err(TelegramError::Blocked) => notifier.unlink_blocked(user).await,
            Err(TelegramError::Gone) => {}
        }
    }
    metrics::counter!("notifications_total", "outcome" => why.outcome()).increment(1);
    store::forget(pool, user.as_uuid(), conversation).await?;
    Ok(Outcome::Done)
}

/// Edits notifications that gathered more messages, at most once per interval per notification.
pub(crate) async fn flush_edits(notifier: Notifier) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let pool = notifier.store.pool();
        let due =
            match store::claim_due_edits(pool, notifier.config.edit_interval.as_secs_f64()).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "cannot read pending notification edits");
                    continue;
                }
            };
        for edit in due {
            let link = notifier.link(edit.conversation);
            let html = match &edit.title {
                Some(title) => text::group_notification(
                    title,
                    &edit.senders,
                    edit.unread,
                    &edit.sender_name,
                    &edit.preview,
                    &link,
                ),
                None => text::notification(&edit.sender_name, edit.unread, &edit.preview, &link),
            };
            let retry = match notifier
                .telegram
                .edit_html(edit.chat_id, edit.telegram_message_id, &html)
                .await
            {
                Ok(()) => None,
                Err(TelegramError::RetryAfter(delay)) => Some(delay),
                Err(TelegramError::Transient(reason) | TelegramError::Uncertain(reason)) => {
                    tracing::warn!(%reason, "editing a notification failed; will retry");
                    Some(Duration::from_secs(2))
                }
                Err(TelegramError::Blocked) => {
                    notifier.unlink_blocked(UserId::from_uuid(edit.user)).await;
                    let _ = store::forget_message(
                        pool,
                        edit.user,
                        edit.conversation,
                        edit.telegram_message_id,
                    )
                    .await;
                    None
                }
                Err(TelegramError::Gone) => {
                    let _ = store::forget_message(
                        pool,
                        edit.user,
                        edit.conversation,
                        edit.telegram_message_id,
                    )
                    .await;
                    None
                }
            };
            if let Some(delay) = retry {
                if let Err(error) =
                    store::retry_edit(pool, edit.user, edit.conversation, delay.as_secs_f64()).await
                {
                    tracing::warn!(%error, "cannot reschedule a notification edit");
                }
            }
        }
    }
}

impl Notifier {
    pub(crate) fn link(&self, conversation: Uuid) -> String {
        format!("{}/conversations/{conversation}", self.config.public_url)
    }

    /// Telegram says the user blocked the bot: stop writing to that chat.
    pub(crate) async fn unlink_blocked(&self, user: UserId) {
        match self
            .accounts
            .unlink_telegram(user, UnlinkReason::BotBlocked)
            .await
        {
            Ok(_) => tracing::info!(user_id = %user, "telegram unlinked: the bot was blocked"),
            Err(error) => tracing::warn!(%error, "cannot unlink a blocked chat"),
        }
    }
}
