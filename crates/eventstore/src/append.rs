//! Appending events to streams, atomically, idempotently, with optimistic concurrency.
//!
//! # Why appends are serialized
//! Positions come from an identity sequence, but concurrent transactions commit in another order
//! than they drew their numbers: a reader that has seen position 11 may later find that 10 has just
//! committed, and a tailer following "everything after my checkpoint" would skip it for good.
//!
//! Every append transaction therefore takes one transaction-scoped advisory lock before it draws
//! positions and holds it until commit. Postgres makes a commit visible before it releases the
//! transaction's locks, so a later append can only draw its positions once every earlier one is
//! visible: positions become visible in increasing order, and "read after P" never skips a late
//! commit. The global position is thus a plain resumable cursor for projectors, the publisher and
//! clients alike.
//!
//! The price is that append transactions commit one at a time, so the cost that matters is the
//! number of commits (each a WAL flush) and how long each holds the lock, not the number of events.
//! [`write_batch`] checks any number of append requests in memory under one lock, and stores the
//! accepted ones, the streams' new versions and one notification in one statement. The
//! group-commit [`Appender`](crate::Appender) feeds it many requests per transaction, through
//! [`write_batch_read_ahead`], which does the reading before the lock; a single
//! [`EventStore::append`] is a batch of one.

use crate::{Error, EventStore, NewEvent, RecordedEvent, NOTIFY_CHANNEL};
use sqlx::{Connection, PgConnection, Row};
use std::collections::{HashMap, HashSet};
use std::fmt;
use uuid::Uuid;

/// The lock key of the global append lock (any fixed number; this one spells "EVENTLOG"). Public
/// for tests that hold every writer back at a chosen moment (`testkit::append_lock`).
pub const APPEND_LOCK_KEY: i64 = 0x4556_454e_544c_4f47;
/// The `CHECK` bounds of `events.stream_id` and `events.event_type`, enforced before the database
/// so that one malformed request cannot fail a whole batch.
const MAX_NAME_CHARS: usize = 200;

/// What the writer believes the stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet (e.g. a username reservation).
    NoStream,
    /// The stream must be exactly at this version (1-based count of its events).
    Exact(i64),
}

impl ExpectedVersion {
    fn matches(self, actual: i64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => actual == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// Events for one stream, as one part of an append request.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    pub fn new(
        stream_id: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream_id: stream_id.into(),
            expected,
            events,
        }
    }
}

/// Where an append landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The stream's version after the append: the version of its last event in this batch.
    pub stream_version: i64,
    /// The global positions of the batch's events, in batch order (empty for an empty batch).
    pub positions: Vec<i64>,
    /// False when every event of the batch was stored by an earlier call (an idempotent retry).
    pub appended: bool,
}

impl AppendResult {
    /// The position after which a reader sees the whole batch (for read-your-writes waits).
    pub fn last_position(&self) -> Option<i64> {
        self.positions.last().copied()
    }
}

/// What one request of a batch came to: a result per part, or the reason it was refused.
pub(crate) type RequestOutcome = Result<Vec<AppendResult>, Error>;

impl EventStore {
    /// Appends `events` to `stream_id` in a transaction of its own.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, Error> {
        self.guarded(async {
            let mut tx = self.pool.begin().await?;
            let result = append_in_tx(&mut tx, stream_id, expected, events).await?;
            tx.commit().await?;
            Ok(result)
        })
        .await
    }

    /// Appends what `decide` makes of the stream's events after `known_version`, deciding under the
    /// append lock, so that no other append can land between the read and the write.
    ///
    /// For a writer that lost an optimistic append: several processes appending to one busy
    /// stream could otherwise keep beating each other's expected version, however often each
    /// retries. This path cannot lose, at the price of holding the global lock across one stream
    /// read and the decision, so it is the fallback, not the rule. `decide` gets the events after
    /// `known_version` (the caller's state is at that version) and returns the events to append
    /// with whatever the caller wants back; no events means nothing is written.
    pub async fn append_deciding<T>(
        &self,
        stream_id: &str,
        known_version: i64,
        decide: impl FnOnce(Vec<RecordedEvent>) -> (Vec<NewEvent>, T),
    ) -> Result<(Option<AppendResult>, T), Error> {
        self.guarded(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK_KEY)
                .execute(&mut *tx)
                .await?;
            let newer =
                crate::read::stream_from(&mut *tx, stream_id, known_version + 1, i64::MAX).await?;
            let version = newer.last().map_or(known_version, |e| e.stream_version);
            let (events, decided) = decide(newer);
            if events.is_empty() {
                return Ok((None, decided));
            }
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            // The lock is taken again inside, which a transaction's advisory lock allows.
            let result = append_in_tx(&mut tx, stream_id, expected, &events).await?;
            tx.commit().await?;
            Ok((Some(result), decided))
        })
        .await
    }
}

/// Appends inside the caller's transaction, so several streams (a user and its username reservation)
/// commit or fail together. Commit promptly afterwards: the append lock is held until then.
pub async fn append_in_tx(
    conn: &mut PgConnection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<AppendResult, Error> {
    let part = StreamAppend::new(stream_id, expected, events.to_vec());
    let mut outcomes = write_batch(conn, &[std::slice::from_ref(&part)]).await?;
    outcomes
        .pop()
        .unwrap_or_else(|| Err(Error::Invalid("an append produced no outcome".into())))?
        .pop()
        .ok_or_else(|| Error::Invalid("an append produced no result".into()))
}

/// A stored or just-planned event, as an idempotency check needs it.
#[derive(Clone)]
struct Placed {
    stream_id: String,
    stream_version: i64,
    /// Known for stored events; for events of this batch, filled in after the insert.
    position: Option<i64>,
}

/// How a part of a request will be answered once the batch is written.
enum Plan {
    /// New events: rows `first_row..first_row + n` of the insert.
    Insert { first_row: usize, version: i64 },
    /// Nothing to write (every event was stored before, in this batch or earlier, or none given).
    Answer { ids: Vec<Uuid>, version: i64 },
}

/// Appends every request that passes its checks, in one insert, inside the caller's transaction.
///
/// Requests are checked in order against the stream versions as the earlier requests of the batch
/// leave them, so a stale request fails alone and the rest are stored. A request is all or
/// nothing: every part passes, or none is written. The outer error means the database failed and
/// nothing of the batch can be trusted to be written (the caller's transaction must roll back).
pub(crate) async fn write_batch(
    conn: &mut PgConnection,
    requests: &[&[StreamAppend]],
) -> Result<Vec<RequestOutcome>, Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let refused = refusals(requests);
    let keys = Keys::of(requests, &refused);
    let current = known(conn, &keys).await?;
    let mut planned = plan(requests, refused, current)?;
    planned.store(conn, &Guard::default()).await?;
    Ok(planned.answers())
}

/// Starts a transaction holding the append lock, in one round trip.
const BEGIN_LOCKED: &str = "BEGIN; SELECT pg_advisory_xact_lock(4996257039338196807)";

/// [`write_batch`] in a transaction of its own, for the group-commit appender: the lock is held
/// for two round trips and the commit's flush instead of four.
///
/// What the batch depends on (its streams' versions and any of its events stored before) is read
/// before the lock is taken, and the batch is planned on that. Under the lock, one statement stores
/// the batch only if none of its streams moved since (another process appended to one of them):
/// then the outcome is exactly what planning under the lock would have given. If one moved, it
/// stores nothing, and the batch is read and planned again under the lock. A batch that stores
/// nothing (retries and refusals only) takes no lock: its answers were true when read.
pub(crate) async fn write_batch_read_ahead(
    conn: &mut PgConnection,
    requests: &[&[StreamAppend]],
) -> Result<Vec<RequestOutcome>, Error> {
    let refused = refusals(requests);
    let keys = Keys::of(requests, &refused);
    let read_ahead = known(&mut *conn, &keys).await?;
    let guard = Guard::of(&keys, &read_ahead.versions);
    let mut planned = plan(requests, refused, read_ahead)?;
    if planned.rows.is_empty() {
        return Ok(planned.answers());
    }
    let mut tx = conn.begin_with(BEGIN_LOCKED).await?;
    if !planned.store(&mut tx, &guard).await? {
        metrics::counter!("append_batches_replanned_total").increment(1);
        let current = known(&mut tx, &keys).await?;
        planned = plan(requests, refusals(requests), current)?;
        planned.store(&mut tx, &Guard::default()).await?;
    }
    tx.commit().await?;
    Ok(planned.answers())
}

/// The events and streams a batch's valid requests name.
struct Keys {
    ids: Vec<Uuid>,
    streams: Vec<String>,
}

impl Keys {
    fn of(requests: &[&[StreamAppend]], refused: &[Option<RequestOutcome>]) -> Self {
        let valid = requests
            .iter()
            .zip(refused)
            .filter(|(_, refused)| refused.is_none())
            .flat_map(|(parts, _)| parts.iter());
        let mut ids = Vec::new();
        let mut streams = HashSet::new();
        for part in valid {
            ids.extend(part.events.iter().map(|e| e.event_id));
            streams.insert(part.stream_id.clone());
        }
        Self {
            ids,
            streams: streams.into_iter().collect(),
        }
    }
}

/// Stream versions a batch was planned on, which must still hold when it is stored.
#[derive(Default)]
struct Guard {
    streams: Vec<String>,
    versions: Vec<i64>,
}

impl Guard {
    fn of(keys: &Keys, versions: &HashMap<String, i64>) -> Self {
        Self {
            streams: keys.streams.clone(),
            versions: keys
                .streams
                .iter()
                .map(|s| versions.get(s).copied().unwrap_or(0))
                .collect(),
        }
    }
}

/// A batch checked against what the store held: the rows to insert, and how to answer each request.
struct Planned<'a> {
    parts: Vec<&'a [StreamAppend]>,
    outcomes: Vec<Option<RequestOutcome>>,
    plans: Vec<Vec<Plan>>,
    rows: Rows<'a>,
    placed: HashMap<Uuid, Placed>,
    versions: HashMap<String, i64>,
    positions: Vec<i64>,
}

/// Each request refused before the database sees it (see [`validate`]), or `None`.
fn refusals(requests: &[&[StreamAppend]]) -> Vec<Option<RequestOutcome>> {
    requests
        .iter()
        .map(|parts| validate(parts).err().map(Err))
        .collect()
}

/// Plans every request not already refused, in order, against `known`; rows of the accepted ones
/// go to one insert.
fn plan<'a>(
    requests: &[&'a [StreamAppend]],
    mut outcomes: Vec<Option<RequestOutcome>>,
    known: Known,
) -> Result<Planned<'a>, Error> {
    let Known {
        mut placed,
        mut versions,
    } = known;
    let mut rows = Rows::default();
    let mut plans: Vec<Vec<Plan>> = Vec::with_capacity(requests.len());
    for (parts, outcome) in requests.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            plans.push(vec![]);
            continue;
        }
        match plan_request(parts, &placed, &versions, rows.len()) {
            Ok((plan, request_versions)) => {
                for (part, plan) in parts.iter().zip(&plan) {
                    if let Plan::Insert { first_row, version } = plan {
                        for (i, event) in part.events.iter().enumerate() {
                            let stream_version = version - part.events.len() as i64 + 1 + i as i64;
                            debug_assert_eq!(rows.len(), first_row + i);
                            rows.push(&part.stream_id, stream_version, event)?;
                            placed.insert(
                                event.event_id,
                                Placed {
                                    stream_id: part.stream_id.clone(),
                                    stream_version,
                                    position: None,
                                },
                            );
                        }
                    }
                }
                versions.extend(request_versions);
                plans.push(plan);
            }
            Err(error) => {
                *outcome = Some(Err(error));
                plans.push(vec![]);
            }
        }
    }
    Ok(Planned {
        parts: requests.to_vec(),
        outcomes,
        plans,
        rows,
        placed,
        versions,
        positions: Vec::new(),
    })
}

impl Planned<'_> {
    /// Stores the rows, the new stream versions and one notification for the whole batch, in one
    /// statement (the lock is held until commit), provided `guard`'s versions still hold. False
    /// when one did not: nothing was stored. The notification only wakes readers, who re-read
    /// from their checkpoint.
    async fn store(&mut self, conn: &mut PgConnection, guard: &Guard) -> Result<bool, Error> {
        if self.rows.is_empty() {
            return Ok(true);
        }
        let changed: HashMap<&str, i64> = self
            .rows
            .streams
            .iter()
            .map(|s| {
                (
                    s.as_str(),
                    self.versions.get(s.as_str()).copied().unwrap_or(0),
                )
            })
            .collect();
        let (names, values): (Vec<&str>, Vec<i64>) = changed.into_iter().unzip();
        let rows = &self.rows;
        let stored = sqlx::query(
            "WITH stale AS (
                 SELECT 1 FROM unnest($8::text[], $9::bigint[]) AS g(stream_id, version)
                          LEFT JOIN streams s ON s.stream_id = g.stream_id
                  WHERE COALESCE(s.version, 0) <> g.version
                  LIMIT 1
             ), inserted AS (
                 INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata)
                 SELECT e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data, e.metadata
                   FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])
                        WITH ORDINALITY AS e(event_id, stream_id, stream_version, event_type, schema_version, data, metadata, n)
                  WHERE NOT EXISTS (SELECT FROM stale)
                  ORDER BY e.n
                 RETURNING event_id, position
             ), versions AS (
                 INSERT INTO streams (stream_id, version)
                 SELECT * FROM unnest($10::text[], $11::bigint[])
                  WHERE NOT EXISTS (SELECT FROM stale)
                 ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version
             ), notified AS (
                 SELECT pg_notify($12, max(position)::text) FROM inserted HAVING count(*) > 0
             )
             SELECT event_id, position FROM inserted WHERE EXISTS (SELECT FROM notified)",
        )
        .bind(&rows.ids)
        .bind(&rows.streams)
        .bind(&rows.versions)
        .bind(&rows.types)
        .bind(&rows.schema_versions)
        .bind(&rows.data)
        .bind(&rows.metadata)
        .bind(&guard.streams)
        .bind(&guard.versions)
        .bind(&names)
        .bind(&values)
        .bind(NOTIFY_CHANNEL)
        .fetch_all(&mut *conn)
        .await?;
        if stored.is_empty() {
            return Ok(false);
        }
        let by_id: HashMap<Uuid, i64> = stored
            .iter()
            .map(|r| (r.get("event_id"), r.get("position")))
            .collect();
        self.positions = rows
            .ids
            .iter()
            .map(|id| {
                by_id
                    .get(id)
                    .copied()
                    .ok_or_else(|| Error::Invalid(format!("event {id} was not inserted")))
            })
            .collect::<Result<_, _>>()?;
        for (id, position) in rows.ids.iter().zip(&self.positions) {
            if let Some(p) = self.placed.get_mut(id) {
                p.position = Some(*position);
            }
        }
        metrics::counter!("events_appended_total").increment(self.positions.len() as u64);
        Ok(true)
    }

    /// Each request's outcome, once stored.
    fn answers(self) -> Vec<RequestOutcome> {
        let Self {
            parts,
            outcomes,
            plans,
            placed,
            positions,
            ..
        } = self;
        outcomes
            .into_iter()
            .zip(plans)
            .zip(parts)
            .map(|((outcome, plan), parts)| match outcome {
                Some(refused) => refused,
                None => Ok(parts
                    .iter()
                    .zip(plan)
                    .map(|(part, plan)| answer(part, plan, &positions, &placed))
                    .collect()),
            })
            .collect()
    }
}

/// Refuses what the database would refuse, before it can fail the batch.
fn validate(parts: &[StreamAppend]) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for part in parts {
        let chars = part.stream_id.chars().count();
        if !(1..=MAX_NAME_CHARS).contains(&chars) {
            return Err(Error::Invalid(format!(
                "a stream id must be 1-{MAX_NAME_CHARS} characters"
            )));
        }
        for event in &part.events {
            if !seen.insert(event.event_id) {
                return Err(Error::DuplicateEventInBatch {
                    event_id: event.event_id,
                });
            }
            let chars = event.event_type.chars().count();
            if !(1..=MAX_NAME_CHARS).contains(&chars) || event.schema_version < 1 {
                return Err(Error::Invalid(format!(
                    "event {}: the type must be 1-{MAX_NAME_CHARS} characters and the schema version positive",
                    event.event_id
                )));
            }
            if holds_nul(&event.data) {
                // jsonb cannot store U+0000.
                return Err(Error::Invalid(format!(
                    "event {}: its data holds a NUL character",
                    event.event_id
                )));
            }
        }
    }
    Ok(())
}

fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Checks one request's parts; on success, its plan and the stream versions it leaves.
fn plan_request(
    parts: &[StreamAppend],
    placed: &HashMap<Uuid, Placed>,
    versions: &HashMap<String, i64>,
    mut next_row: usize,
) -> Result<(Vec<Plan>, HashMap<String, i64>), Error> {
    let mut request_versions: HashMap<String, i64> = HashMap::new();
    let mut plan = Vec::with_capacity(parts.len());
    for part in parts {
        let ids: Vec<Uuid> = part.events.iter().map(|e| e.event_id).collect();
        let known: Vec<&Placed> = ids.iter().filter_map(|id| placed.get(id)).collect();
        if !known.is_empty() {
            // A retry: answered with what was stored, if it is exactly this batch on this stream.
            let same =
                known.len() == ids.len() && known.iter().all(|p| p.stream_id == part.stream_id);
            if !same {
                let event_id = ids
                    .iter()
                    .copied()
                    .find(|id| placed.contains_key(id))
                    .unwrap_or_default();
                return Err(Error::IdempotencyConflict { event_id });
            }
            let version = known.iter().map(|p| p.stream_version).max().unwrap_or(0);
            plan.push(Plan::Answer { ids, version });
            continue;
        }
        let actual = request_versions
            .get(&part.stream_id)
            .or_else(|| versions.get(&part.stream_id))
            .copied()
            .unwrap_or(0);
        if !part.expected.matches(actual) {
            return Err(Error::WrongExpectedVersion {
                stream_id: part.stream_id.clone(),
                expected: part.expected,
                actual,
            });
        }
        if part.events.is_empty() {
            plan.push(Plan::Answer {
                ids: vec![],
                version: actual,
            });
            continue;
        }
        let version = actual + part.events.len() as i64;
        request_versions.insert(part.stream_id.clone(), version);
        plan.push(Plan::Insert {
            first_row: next_row,
            version,
        });
        next_row += part.events.len();
    }
    Ok((plan, request_versions))
}

fn answer(
    part: &StreamAppend,
    plan: Plan,
    positions: &[i64],
    placed: &HashMap<Uuid, Placed>,
) -> AppendResult {
    match plan {
        Plan::Insert { first_row, version } => AppendResult {
            stream_version: version,
            positions: positions[first_row..first_row + part.events.len()].to_vec(),
            appended: true,
        },
        Plan::Answer { ids, version } => {
            let mut positions: Vec<i64> = ids
                .iter()
                .filter_map(|id| placed.get(id).and_then(|p| p.position))
                .collect();
            positions.sort_unstable();
            AppendResult {
                stream_version: version,
                positions,
                appended: false,
            }
        }
    }
}

/// What the store already holds of a batch: its events stored before (a retry), and the current
/// version of its streams.
struct Known {
    placed: HashMap<Uuid, Placed>,
    versions: HashMap<String, i64>,
}

/// Reads [`Known`] in one round trip, unprepared like the hot reads (see `read.rs`), so it is
/// planned with the log's current size.
async fn known(conn: &mut PgConnection, keys: &Keys) -> Result<Known, Error> {
    let rows = sqlx::query(
        "SELECT event_id, stream_id, stream_version AS version, position
           FROM events WHERE event_id = ANY($1)
         UNION ALL
         SELECT NULL, stream_id, version, NULL FROM streams WHERE stream_id = ANY($2)",
    )
    .persistent(false)
    .bind(&keys.ids)
    .bind(&keys.streams)
    .fetch_all(&mut *conn)
    .await?;
    let mut placed = HashMap::new();
    let mut versions = HashMap::new();
    for row in &rows {
        let stream_id: String = row.get("stream_id");
        let version: i64 = row.get("version");
        match row.get::<Option<Uuid>, _>("event_id") {
            Some(event_id) => {
                placed.insert(
                    event_id,
                    Placed {
                        stream_id,
                        stream_version: version,
                        position: row.get("position"),
                    },
                );
            }
            None => {
                versions.insert(stream_id, version);
            }
        }
    }
    Ok(Known { placed, versions })
}

/// The rows of one multi-row insert, as column arrays.
#[derive(Default)]
struct Rows<'a> {
    ids: Vec<Uuid>,
    streams: Vec<String>,
    versions: Vec<i64>,
    types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    data: Vec<&'a serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}

impl<'a> Rows<'a> {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn push(&mut self, stream_id: &str, version: i64, event: &'a NewEvent) -> Result<(), Error> {
        self.ids.push(event.event_id);
        self.streams.push(stream_id.to_owned());
        self.versions.push(version);
        self.types.push(&event.event_type);
        self.schema_versions.push(event.schema_version);
        self.data.push(&event.data);
        self.metadata
            .push(serde_json::to_value(&event.metadata).map_err(Error::Encode)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locked_begin_takes_the_append_lock() {
        assert!(BEGIN_LOCKED.ends_with(&format!("pg_advisory_xact_lock({APPEND_LOCK_KEY})")));
    }
}
