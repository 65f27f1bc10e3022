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
//! meantime, the append's expected version fails, and the worker decides the group again under the
//! store's append lock, where no other process can get in between: two processes writing one
//! busy conversation slow each other down but never make a send fail. A group that appended
//! nothing but refused something is checked against the stream's version first, so a stale cache
//! never answers a wrong refusal.
//!
//! The cache is bounded by the approximate bytes of the states it holds, not by their count (one
//! long conversation outweighs thousands of new ones); past the bound it drops the least recently
//! used conversation instead of starting over, and a dropped one is read from its stream again.
//!
//! The faces bound how long a caller waits while the database is failing or coming back (see
//! `deadline.rs`). A command whose caller stopped waiting is dropped before its group is decided,
//! so an outage leaves no backlog of commands nobody waits for.

use crate::{AppError, Membership};
use domain::{Aggregate, Conversation, ConversationCommand, ConversationEvent, ConversationId};
use eventstore::{Appender, EventStore, ExpectedVersion, Metadata, NewEvent};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

/// Commands decided and appended together at most (bounds one append's size and latency).
const MAX_GROUP: usize = 512;
/// Approximate bytes of conversation state kept per process. Past it the least recently used
/// conversations are dropped; their next command reads their stream again.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// What an entry costs beside its conversation state: the slot, its membership, the cache's own
/// bookkeeping. Also the least an entry weighs, so empty entries are bounded too.
const ENTRY_OVERHEAD: usize = 512;

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

impl Slot {
    fn size(&self) -> usize {
        ENTRY_OVERHEAD
            + self
                .state
                .as_ref()
                .map_or(0, |(_, state)| state.approximate_size())
    }
}

/// A conversation's slot as the cache holds it: shared, so a hit costs a reference count, and a
/// worker keeps its slot even if the cache drops it meanwhile.
struct Entry {
    /// The weight the cache was last given for this entry. Its weigher reads this instead of
    /// locking `slot`, which the caller of an insert may hold.
    weight: AtomicU32,
    slot: Mutex<Slot>,
}

impl Entry {
    fn new() -> Self {
        Self {
            weight: AtomicU32::new(ENTRY_OVERHEAD as u32),
            slot: Mutex::default(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        // Nothing is left half-changed under this lock, so a poisoned one is still consistent.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone)]
pub(crate) struct CommandQueues {
    store: EventStore,
    appender: Appender,
    /// Conversation states between commands, bounded by their approximate bytes (one long
    /// conversation weighs as much as thousands of new ones); the least recently used go first.
    cache: Cache<ConversationId, Arc<Entry>>,
    /// The entries whose worker is running. Commands wait in them, so they stay findable here
    /// whatever the cache drops: a later command joins the same queue instead of starting a
    /// second worker that could decide it before the earlier ones.
    active: Arc<Mutex<HashMap<ConversationId, Arc<Entry>>>>,
    /// The workers, so shutdown can wait for the commands already accepted.
    workers: TaskTracker,
}

impl CommandQueues {
    pub(crate) fn new(store: EventStore, appender: Appender) -> Self {
        Self::with_capacity(store, appender, CACHE_BYTES)
    }

    fn with_capacity(store: EventStore, appender: Appender, bytes: u64) -> Self {
        Self {
            store,
            appender,
            cache: Cache::builder()
                .max_capacity(bytes)
                .weigher(|_, entry: &Arc<Entry>| entry.weight.load(Ordering::Relaxed))
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            active: Arc::default(),
            workers: TaskTracker::new(),
        }
    }

    fn active(&self) -> MutexGuard<'_, HashMap<ConversationId, Arc<Entry>>> {
        // Nothing is left half-changed under this lock, so a poisoned one is still consistent.
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The conversation's entry, preferring the one a worker is draining (it is the newest).
    fn known(&self, id: ConversationId) -> Option<Arc<Entry>> {
        let active = self.active().get(&id).cloned();
        active.or_else(|| self.cache.get(&id))
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
        let pending = Pending {
            command,
            metadata,
            reply,
        };
        // Lock order everywhere: `active`, then a slot.
        let start_worker = {
            let mut active = self.active();
            if let Some(entry) = active.get(&id) {
                entry.slot().queue.push_back(pending);
                None
            } else {
                let entry = self.cache.get_with_by_ref(&id, || Arc::new(Entry::new()));
                {
                    let mut slot = entry.slot();
                    slot.queue.push_back(pending);
                    slot.busy = true;
                }
                active.insert(id, Arc::clone(&entry));
                Some(entry)
            }
        };
        if let Some(entry) = start_worker {
            // A task of its own: a client that goes away must not stop the others' commands.
            let queues = self.clone();
            self.workers
                .spawn(async move { queues.drain(id, entry).await });
        }
        async move {
            outcome
                .await
                .map_err(|e| AppError::internal("the command's worker stopped", e))?
        }
    }

    /// Whether this process knows the conversation to be started (no read needed to send to it).
    pub(crate) fn is_started(&self, id: ConversationId) -> bool {
        self.known(id).is_some_and(|entry| {
            entry
                .slot()
                .membership
                .as_ref()
                .is_some_and(|(_, m)| !m.members().is_empty())
        })
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
        self.known(id)?.slot().membership.clone()
    }

    /// Keeps a state a read loaded, unless a worker has (or is making) a newer one.
    pub(crate) fn offer(&self, id: ConversationId, version: i64, state: Conversation) {
        if version == 0 || self.active().contains_key(&id) {
            return;
        }
        let entry = self.cache.get_with_by_ref(&id, || Arc::new(Entry::new()));
        let size = {
            let mut slot = entry.slot();
            if slot.busy || slot.state.as_ref().is_some_and(|(v, _)| *v >= version) {
                return;
            }
            slot.membership = Some((version, Membership::of(&state)));
            slot.state = Some((version, state));
            slot.size()
        };
        self.reweigh(id, &entry, size);
    }

    /// Tells the cache an entry's new size. A re-insert costs the cache an allocation, so it is
    /// done only when the size moved by more than a quarter: a send's few bytes do not count.
    fn reweigh(&self, id: ConversationId, entry: &Arc<Entry>, size: usize) {
        let weight = u32::try_from(size).unwrap_or(u32::MAX);
        let known = entry.weight.load(Ordering::Relaxed);
        if weight.abs_diff(known) > known / 4 {
            entry.weight.store(weight, Ordering::Relaxed);
            self.cache.insert(id, Arc::clone(entry));
        }
    }

    async fn drain(&self, id: ConversationId, entry: Arc<Entry>) {
        loop {
            let taken = {
                let mut slot = entry.slot();
                // Callers that stopped waiting were told their command may not be stored.
                let before = slot.queue.len();
                slot.queue.retain(|pending| !pending.reply.is_closed());
                let dropped = before - slot.queue.len();
                if dropped > 0 {
                    metrics::counter!("commands_dropped_unwaited_total").increment(dropped as u64);
                }
                let n = slot.queue.len().min(MAX_GROUP);
                (n > 0).then(|| {
                    let group: Vec<Pending> = slot.queue.drain(..n).collect();
                    (group, slot.state.take())
                })
            };
            let Some((group, state)) = taken else {
                // Leave only with an empty queue, checked under `active`: a command submitted
                // meanwhile is either in the queue now or finds no worker and starts one.
                let mut active = self.active();
                let mut slot = entry.slot();
                if !slot.queue.is_empty() {
                    continue;
                }
                slot.busy = false;
                active.remove(&id);
                return;
            };
            let kept = self.run_group(id, state, group).await;
            let size = {
                let mut slot = entry.slot();
                if let Some((version, state)) = &kept {
                    match &mut slot.membership {
                        // Most groups are sends, which leave membership as it was: no copy.
                        Some((known, membership)) if membership.is_current(state) => {
                            *known = *version;
                        }
                        stale => *stale = Some((*version, Membership::of(state))),
                    }
                }
                slot.state = kept;
                slot.size()
            };
            self.reweigh(id, &entry, size);
        }
    }

    /// Decides and appends one group; answers every command in it. Returns the state to keep.
    async fn run_group(
        &self,
        id: ConversationId,
        cached: Option<(i64, Conversation)>,
        group: Vec<Pending>,
    ) -> Option<(i64, Conversation)> {
        let from_cache = cached.is_some();
        let loaded = match cached {
            Some(state) => Ok(state),
            None => load(&self.store, id).await,
        };
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
            if refused && from_cache {
                // A refusal or a no-op might come from a stale cache: check the stream.
                match self.store.stream_version(&id.stream_id()).await {
                    Ok(actual) if actual == version => {}
                    Ok(_) => return self.run_group_under_lock(id, group).await,
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
                Some((result.stream_version, state))
            }
            Ok(_) => {
                // Every event was stored already, by a twin of this group in another process.
                let nothing = group.iter().map(|_| Ok(vec![])).collect();
                reply(group, nothing, &[]);
                None
            }
            Err(error) if error.is_conflict() || is_idempotency_conflict(&error) => {
                self.run_group_under_lock(id, group).await
            }
            Err(error) => {
                answer_all(group, &error.into());
                None
            }
        }
    }

    /// Decides the group again after another process changed the stream, this time under the
    /// store's append lock (see [`EventStore::append_deciding`]): it cannot lose a second time, so a
    /// send never fails because other processes keep writing the same conversation.
    async fn run_group_under_lock(
        &self,
        id: ConversationId,
        group: Vec<Pending>,
    ) -> Option<(i64, Conversation)> {
        metrics::counter!("command_groups_decided_under_lock_total").increment(1);
        // The bulk of the stream is read outside the lock; only what lands meanwhile inside it.
        let (known, state) = match load(&self.store, id).await {
            Ok(state) => state,
            Err(error) => {
                answer_all(group, &error);
                return None;
            }
        };
        let decided = self
            .store
            .append_deciding(&id.stream_id(), known, |newer| {
                let version = newer.last().map_or(known, |e| e.stream_version);
                let state = newer.iter().try_fold(state, |state, recorded| {
                    Ok::<_, AppError>(state.evolve(&recorded.decode::<ConversationEvent>()?))
                });
                match state {
                    Ok(state) => {
                        let (state, outcomes, events) = decide_group(state, &group);
                        (events, Ok((version, state, outcomes)))
                    }
                    Err(error) => (vec![], Err(error)),
                }
            })
            .await;
        match decided {
            Ok((appended, Ok((version, state, outcomes)))) => {
                let (version, positions) = match appended {
                    Some(result) => (result.stream_version, result.positions),
                    None => (version, vec![]),
                };
                reply(group, outcomes, &positions);
                Some((version, state))
            }
            Ok((_, Err(error))) => {
                answer_all(group, &error);
                None
            }
            Err(error) => {
                answer_all(group, &error.into());
                None
            }
        }
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
        // A long conversation is thousands of events: let timers and other tasks run between.
        tokio::task::consume_budget().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::{ClientId, Member, MessageBody, UserId};
    use eventstore::AppenderOptions;
    use testkit::TestDb;
    use tokio_util::sync::{CancellationToken, DropGuard};

    struct Harness {
        queues: CommandQueues,
        _stop: DropGuard,
    }

    fn queues(db: &TestDb, bytes: u64) -> Harness {
        let store = EventStore::new(db.pool.clone());
        let stop = CancellationToken::new();
        let (appender, _task) =
            Appender::start(store.clone(), AppenderOptions::default(), stop.clone());
        Harness {
            queues: CommandQueues::with_capacity(store, appender, bytes),
            _stop: stop.drop_guard(),
        }
    }

    /// Starts a conversation between two new people; returns it and its first member. The cache
    /// applies its bookkeeping in batches; it is settled after each step, so the order of uses is
    /// the order the tests see.
    async fn start(queues: &CommandQueues, n: usize) -> (ConversationId, UserId) {
        let members = [
            Member::named(&format!("a{n:04}")),
            Member::named(&format!("b{n:04}")),
        ];
        let id = ConversationId::for_pair(members[0].id, members[1].id);
        let sender = members[0].id;
        queues
            .submit(
                id,
                ConversationCommand::Start { id, members },
                Metadata::default(),
            )
            .await
            .unwrap();
        queues.cache.run_pending_tasks();
        (id, sender)
    }

    fn send(sender: UserId, n: usize, body: &str) -> ConversationCommand {
        ConversationCommand::Send {
            sender,
            client_id: ClientId::parse(&format!("c{n}")).unwrap(),
            body: MessageBody::parse(body).unwrap(),
            at: Utc::now(),
        }
    }

    fn cached(queues: &CommandQueues, id: ConversationId) -> bool {
        queues.cache.run_pending_tasks();
        queues.cache.contains_key(&id)
    }

    /// The weight of one freshly started conversation, as the cache sees it.
    async fn weight_of_a_new_conversation(db: &TestDb) -> u64 {
        let probe = queues(db, CACHE_BYTES);
        let (id, _) = start(&probe.queues, 9999).await;
        let entry = probe.queues.cache.get(&id).unwrap();
        u64::from(entry.weight.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn past_its_bytes_the_cache_drops_the_least_recently_used_conversation() {
        let db = TestDb::create().await.unwrap();
        let weight = weight_of_a_new_conversation(&db).await;
        let h = queues(&db, 3 * weight + weight / 2);
        let (first, _) = start(&h.queues, 1).await;
        let (second, _) = start(&h.queues, 2).await;
        let (third, _) = start(&h.queues, 3).await;
        // Used again, so the second is now the least recently used.
        assert!(h.queues.membership(first).is_some());
        h.queues.cache.run_pending_tasks();
        let (fourth, _) = start(&h.queues, 4).await;
        assert!(cached(&h.queues, first));
        assert!(!cached(&h.queues, second));
        assert!(cached(&h.queues, third));
        assert!(cached(&h.queues, fourth));
    }

    #[tokio::test]
    async fn a_long_conversation_weighs_more_than_a_new_one() {
        let db = TestDb::create().await.unwrap();
        let weight = weight_of_a_new_conversation(&db).await;
        let h = queues(&db, 8 * weight);
        let (long, sender) = start(&h.queues, 0).await;
        let mut others = Vec::new();
        for n in 1..=6 {
            others.push(start(&h.queues, n).await.0);
        }
        let text = "x".repeat(MessageBody::MAX_CHARS);
        h.queues
            .submit(long, send(sender, 1, &text), Metadata::default())
            .await
            .unwrap();
        // Seven entries would fit by count, not by weight: the oldest small ones made room.
        assert!(cached(&h.queues, long));
        assert!(!cached(&h.queues, others[0]));
        assert!(cached(&h.queues, others[5]));
        assert!(h.queues.cache.weighted_size() <= 8 * weight);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_keep_their_order_when_the_cache_drops_their_conversation() {
        let db = TestDb::create().await.unwrap();
        let h = queues(&db, CACHE_BYTES);
        let (id, sender) = start(&h.queues, 1).await;
        let mut outcomes = Vec::new();
        for n in 0..60 {
            outcomes.push(
                h.queues
                    .submit(id, send(sender, n, "hi"), Metadata::default()),
            );
            if n % 4 == 0 {
                // What eviction does, at the worst moments: while the worker drains the queue.
                h.queues.cache.invalidate(&id);
            }
            tokio::task::yield_now().await;
        }
        let mut seqs = Vec::new();
        for outcome in outcomes {
            let (events, _) = outcome.await.unwrap();
            match events.as_slice() {
                [ConversationEvent::MessageSent { seq, .. }] => seqs.push(*seq),
                other => panic!("expected one sent message, got {other:?}"),
            }
        }
        assert_eq!(seqs, (1..=60).collect::<Vec<i64>>());
    }

    fn pending(
        command: ConversationCommand,
    ) -> (Pending, oneshot::Receiver<Result<Decided, AppError>>) {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            command,
            metadata: Metadata::default(),
            reply,
        };
        (pending, answer)
    }

    fn seqs(outcome: &Outcome) -> Result<Vec<i64>, String> {
        match outcome {
            Ok(events) => Ok(events
                .iter()
                .map(|event| match event {
                    ConversationEvent::MessageSent { seq, .. }
                    | ConversationEvent::MessageEdited { seq, .. } => *seq,
                    _ => 0,
                })
                .collect()),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn a_group_is_decided_in_order_each_command_against_what_the_earlier_ones_left() {
        let (ann, ben) = (Member::named("ann"), Member::named("ben"));
        let id = ConversationId::for_pair(ann.id, ben.id);
        let started = Conversation::default().evolve(&ConversationEvent::ConversationStarted {
            conversation_id: id,
            members: [ann.clone(), ben.clone()],
        });
        let first = id.message_id(ann.id, &ClientId::parse("c1").unwrap());
        let group: Vec<Pending> = [
            send(ann.id, 1, "hello"),
            send(ben.id, 2, "hi"),
            // Edits a message sent earlier in the same group.
            ConversationCommand::Edit {
                editor: ann.id,
                message_id: first,
                body: MessageBody::parse("hello!").unwrap(),
                at: Utc::now(),
            },
            // A resend of the first: stored already (by this group), nothing new.
            send(ann.id, 1, "hello"),
            // Ben may not delete Ann's message; the refusal stops no one else.
            ConversationCommand::Delete {
                actor: ben.id,
                message_id: first,
                at: Utc::now(),
            },
            send(ann.id, 3, "still here"),
        ]
        .into_iter()
        .map(|command| pending(command).0)
        .collect();

        let (state, outcomes, events) = decide_group(started, &group);
        let seqs: Vec<_> = outcomes.iter().map(seqs).collect();
        assert_eq!(
            seqs,
            [
                Ok(vec![1]),
                Ok(vec![2]),
                Ok(vec![1]),
                Ok(vec![]),
                Err("only the sender may change a message".to_owned()),
                Ok(vec![3]),
            ]
        );
        assert_eq!(events.len(), 4, "one stored event per change");
        assert_eq!(state.last_seq(), 3);
    }

    #[tokio::test]
    async fn each_command_is_answered_with_the_position_of_its_own_last_event() {
        let (ann, ben) = (Member::named("ann"), Member::named("ben"));
        let id = ConversationId::for_pair(ann.id, ben.id);
        let sent = |seq| ConversationEvent::MessageSent {
            conversation_id: id,
            message_id: uuid::Uuid::new_v4(),
            seq,
            sender: ann.clone(),
            recipient: ben.clone(),
            body: MessageBody::parse("hi").unwrap(),
            client_id: ClientId::parse(&format!("c{seq}")).unwrap(),
            sent_at: Utc::now(),
        };
        let (group, answers): (Vec<_>, Vec<_>) =
            (0..4).map(|n| pending(send(ann.id, n, "hi"))).unzip();
        let outcomes = vec![
            Ok(vec![sent(1)]),
            Ok(vec![]),
            Err(AppError::NotFound("message")),
            Ok(vec![sent(2)]),
        ];
        reply(group, outcomes, &[40, 41]);

        let mut positions = Vec::new();
        for answer in answers {
            positions.push(answer.await.unwrap().map(|(_, position)| position).ok());
        }
        assert_eq!(
            positions,
            [Some(Some(40)), Some(None), None, Some(Some(41))]
        );
    }
}
