//! Telegram: the bot that links chats to accounts, and notifications for offline recipients.
//!
//! The bot is teloxide against the Bot API at `TELEGRAM_API_URL` (Telegram's by default; tests point
//! it at a local fake). Notifications come from a durable JetStream consumer: one Telegram message
//! per recipient and conversation (a pair or a group) while it has unread messages, edited as more
//! arrive (at most once per interval) and deleted when the conversation is read, when the
//! recipient mutes it, or when they leave the group.

mod bot;
mod consumer;
mod decide;
mod store;
pub mod telegram;
pub mod text;

use app::{Accounts, Conversations};
use bus::Bus;
use eventstore::EventStore;
use kv::{Kv, Presence};
use std::sync::Arc;
use std::time::Duration;
use telegram::Telegram;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Messages younger than this wait: the recipient may come online or read them meanwhile.
    pub grace: Duration,
    /// At most one edit of a notification per this interval (Telegram's per-chat limits).
    pub edit_interval: Duration,
    /// Long-polling timeout of `getUpdates`.
    pub poll_timeout: Duration,
    /// Where links in notifications point.
    pub public_url: String,
}

#[derive(Clone)]
pub struct Notifier {
    pub telegram: Telegram,
    pub store: EventStore,
    pub accounts: Accounts,
    pub conversations: Conversations,
    pub presence: Presence,
    pub kv: Kv,
    pub bus: Bus,
    pub config: Arc<NotifierConfig>,
}

impl Notifier {
    /// Runs the bot's long polling, the notification consumer and the edit flusher until `shutdown`.
    pub fn start(self, shutdown: CancellationToken) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        let consumer_stop = shutdown.clone();
        tasks.spawn(consumer::run(self.clone(), consumer_stop));
        for task in [Task::Bot, Task::Flusher] {
            let notifier = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = task.run(notifier) => {}
                }
            });
        }
        tasks
    }
}

#[derive(Clone, Copy)]
enum Task {
    Bot,
    Flusher,
}

impl Task {
    async fn run(self, notifier: Notifier) {
        match self {
            Self::Bot => bot::poll(notifier).await,
            Self::Flusher => consumer::flush_edits(notifier).await,
        }
    }
}
