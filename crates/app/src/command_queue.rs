//! Per-conversation command queues: commands on one conversation are decided in arrival order by
//! one worker and appended together.
//!
//! Sends commute (each needs only membership and the next `seq`), but deciding each against the
//! stream and appending with an optimistic version makes concurrent senders on a busy conversation
//! retry each other until they give up. Instead, a command joins its conversation's queue; one
//! worker task at a time drains the queue, decides every queued command against the cached state
//! (each against the state the earlier ones leave, so seqs stay dense and edits keep their exact
//! checks), and appends all their events as one request with the version the state was built at.
//! The group-commit appender then shares one transaction among the requests of many
//! conversations. A busy conversation costs one append per drained group, not one per message.
//!
//! The cached state is trusted without reading the stream. If another process appended in the
//! meantime, the append's expected version fails, the worker reloads and decides the group again;
//! a group that appended nothing but refused something is checked against the stream's version
//! first, so a stale cache never answers a wrong refusal.

use crate::{AppError, Membership};
use domain::{Aggregate, Conversation, ConversationCommand, ConversationEvent, ConversationId};
use eventstore::{Appender, EventStore, ExpectedVersion, Metadata, NewEvent};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

/// Another process won the append this many times in a row: give up rather than spin.
const MAX_ATTEMPTS: usize = 32;
/// Commands decided and appended together at most (bounds one append's size and latency).
const MAX_GROUP: usize = 512;
/// Conversations kept in memory per process; past it, idle ones are dropped.
const CACHE_CAPACITY: usize = 10_000;

/// What a command did: its events, and the position of its last one (None when nothing new was
/// stored: a resend, or a command already satisfied).
pub(crate) type Decided = (Vec<ConversationEvent>, Option<i64>);

struct Pending {
    command: ConversationCommand,
    metadata: Metadata,
    reply: oneshot::Sender<Result<Decided, AppError>>,
}

#[derive(Default)]
struct Slot {
    /// The state at a stream version; `None` until loaded, and while a worker holds it.
    state: Option<(i64, Conversation)>,
    /// What reads need of the last known state; kept while a worker holds `state`.
    membership: Option<(i64, Membership)>,
    queue: VecDeque<Pending>,
    /// A worker task is draining `queue`; at most one per conversation and process.
    busy: bool,
}

#[derive(Clone)]
pub(crate) struct CommandQueues {
    store: EventStore,
    appender: Appender,
    slots: Arc<Mutex<HashMap<ConversationId, Slot>>>,
    /// The workers, so shutdown can wait for the commands already accepted.
    workers: TaskTracker,
}

impl CommandQueues {
    pub(crate) fn new(store: EventStore, appender: Appender) -> Self {
        Self {
            store,
            appender,
            slots: Arc::new(Mutex::new(HashMap::new())),
            workers: TaskTracker::new(),
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<ConversationId, Slot>> {
        // Nothing is left half-changed under this lock, so a poisoned one is still consistent.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `command` behind the conversation's earlier ones now and returns the wait for its
    /// outcome: commands submitted one after the other are decided in that order, whenever their
    /// callers wait.
    pub(crate) fn submit(
        &self,
        id: ConversationId,
        command: ConversationCommand,
        metadata: Metadata,
    ) -> impl Future<Output = Result<Decided, AppError>> + Send + 'static {
        let (reply, outcome) = oneshot::channel();
        let start_worker = {
            let mut slots = self.slots();
            if slots.len() >= CACHE_CAPACITY && !slots.contains_key(&id) {
                slots.retain(|_, slot| slot.busy);
            }
            let slot = slots.entry(id).or_default();
            slot.queue.push_back(Pending {
                command,
                metadata,
                reply,
            });
            !std::mem::replace(&mut slot.busy, true)
        };
        if start_worker {
            // A task of its own: a client that goes away must not stop the others' commands.
            let queues = self.clone();
            self.workers.spawn(async move { queues.drain(id).await });
        }
        async move {
            outcome
                .await
                .map_err(|e| AppError::internal("the command's worker stopped", e))?
        }
    }

    /// Whether this process knows the conversation to be started (no read needed to send to it).
    pub(crate) fn is_started(&self, id: ConversationId) -> bool {
        self.slots()
            .get(&id)
            .and_then(|slot| slot.membership.as_ref())
            .is_some_and(|(_, m)| !m.members().is_empty())
    }

    /// Waits until every command accepted so far is answered; commands queued meanwhile are still
    /// taken (a worker drains its queue before it ends).
    pub(crate) async fn idle(&self) {
        self.workers.close();
        self.workers.wait().await;
        self.workers.reopen();
    }

    /// The membership as of the last known state, with its version (reads top it up).
    pub(crate) fn membership(&self, id: ConversationId) -> Option<(i64, Membership)> {
        self.slots()
            .get(&id)
            .and_then(|slot| slot.membership.clone())
    }

    /// Keeps a state a read loaded, unless a worker has (or is making) a newer one.
    pub(crate) fn offer(&self, id: ConversationId, version: i64, state: Conversation) {
        if version == 0 {
            return;
        }
        let mut slots = self.slots();
        if slots.len() >= CACHE_CAPACITY && !slots.contains_key(&id) {
            return;
        }
        let slot = slots.entry(id).or_default();
        if !slot.busy && slot.state.as_ref().is_none_or(|(v, _)| *v < version) {
            slot.membership = Some((version, Membership::of(&state)));
            slot.state = Some((version, state));
        }
    }

    async fn drain(&self, id: ConversationId) {
        loop {
            let (group, state) = {
                let mut slots = self.slots();
                let Some(slot) = slots.get_mut(&id) else {
                    return;
                };
                if slot.queue.is_empty() {
                    slot.busy = false;
                    return;
                }
                let n = slot.queue.len().min(MAX_GROUP);
                let group: Vec<Pending> = slot.queue.drain(..n).collect();
                (group, slot.state.take())
            };
            let kept = self.run_group(id, state, group).await;
            if let Some(slot) = self.slots().get_mut(&id) {
                if let Some((version, state)) = &kept {
                    slot.membership = Some((*version, Membership::of(state)));
                }
                slot.state = kept;
            }
        }
    }

    /// Decides and appends one group; answers every command in it. Returns the state to keep.
    async fn run_group(
        &self,
        id: ConversationId,
        cached: Option<(i64, Conversation)>,
        group: Vec<Pending>,
    ) -> Option<(i64, Conversation)> {
        let mut fresh = cached.is_none();
        let mut loaded = match cached {
            Some(state) => Ok(state),
            None => load(&self.store, id).await,
        };
        for _ in 0..MAX_ATTEMPTS {
            let (version, state) = match loaded {
                Ok(state) => state,
                Err(error) => {
                    answer_all(group, &error);
                    return None;
                }
            };
            let (state, outcomes, events) = decide_group(state, &group);
            if events.is_empty() {
                let refused = outcomes
                    .iter()
                    .any(|o| !matches!(o, Ok(e) if !e.is_empty()));
                if refused && !fresh {
                    // A refusal or a no-op might come from a stale cache: check the stream.
                    match self.store.stream_version(&id.stream_id()).await {
                        Ok(actual) if actual == version => {}
                        Ok(_) => {
                            fresh = true;
                            loaded = load(&self.store, id).await;
                            continue;
                        }
                        Err(error) => {
                            answer_all(group, &error.into());
                            return None;
                        }
                    }
                }
                reply(group, outcomes, &[]);
                return Some((version, state));
            }
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self
                .appender
                .append(&id.stream_id(), expected, events)
                .await
            {
                Ok(result) if result.appended => {
                    reply(group, outcomes, &result.positions);
                    return Some((result.stream_version, state));
                }
                Ok(_) => {
                    // Every event was stored already, by a twin of this group in another process.
                    let nothing = group.iter().map(|_| Ok(vec![])).collect();
                    reply(group, nothing, &[]);
                    return None;
                }
                Err(error) if error.is_conflict() || is_idempotency_conflict(&error) => {
                    fresh = true;
                    loaded = load(&self.store, id).await;
                }
                Err(error) => {
                    answer_all(group, &error.into());
                    return None;
                }
            }
        }
        answer_all(
            group,
            &AppError::Conflict {
                code: "contention",
                message: "too many concurrent changes to this conversation; please retry".into(),
            },
        );
        None
    }
}

fn is_idempotency_conflict(error: &eventstore::Error) -> bool {
    matches!(error, eventstore::Error::IdempotencyConflict { .. })
}

/// The whole stream folded into state, for a conversation not in the cache.
pub(crate) async fn load(
    store: &EventStore,
    id: ConversationId,
) -> Result<(i64, Conversation), AppError> {
    let mut version = 0;
    let mut state = Conversation::default();
    for recorded in store.read_whole_stream(&id.stream_id()).await? {
        state = state.evolve(&recorded.decode::<ConversationEvent>()?);
        version = recorded.stream_version;
    }
    Ok((version, state))
}

type Outcome = Result<Vec<ConversationEvent>, AppError>;

/// Decides each command against the state the earlier ones leave. Returns the final state, each
/// command's outcome, and every new event in order, ready to append.
fn decide_group(
    mut state: Conversation,
    group: &[Pending],
) -> (Conversation, Vec<Outcome>, Vec<NewEvent>) {
    let mut outcomes = Vec::with_capacity(group.len());
    let mut new_events = Vec::new();
    for pending in group {
        let decided = state
            .decide(&pending.command)
            .map_err(crate::conversations::conversation_error)
            .and_then(|events| {
                let encoded = events
                    .iter()
                    .map(|event| {
                        NewEvent::from_data(event.event_id(), event.event_type(), event)
                            .map(|e| e.with_metadata(pending.metadata.clone()))
                            .map_err(|e| AppError::internal("cannot serialize an event", e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((events, encoded))
            });
        match decided {
            Ok((events, encoded)) => {
                state = events.iter().fold(state, |s, e| s.evolve(e));
                new_events.extend(encoded);
                outcomes.push(Ok(events));
            }
            Err(error) => outcomes.push(Err(error)),
        }
    }
    (state, outcomes, new_events)
}

/// Answers each command; `positions` are those of the appended events, in order.
fn reply(group: Vec<Pending>, outcomes: Vec<Outcome>, positions: &[i64]) {
    let mut next = 0;
    for (pending, outcome) in group.into_iter().zip(outcomes) {
        let answer = outcome.map(|events| {
            next += events.len();
            let position = if events.is_empty() {
                None
            } else {
                positions.get(next - 1).copied()
            };
            (events, position)
        });
        // The caller may have gone away; its command stands.
        let _ = pending.reply.send(answer);
    }
}

fn answer_all(group: Vec<Pending>, error: &AppError) {
    for pending in group {
        let _ = pending.reply.send(Err(error.duplicate()));
    }
}
