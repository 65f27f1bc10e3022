//! Properties of the append path through the group-commit appender, against the real Postgres:
//! any sequence of requests, several at a time so that they share batches, gets exactly the
//! answers a sequential model of the store gives (versions, typed refusals, idempotent retries),
//! and the store ends up holding exactly the model's events, each stream dense from version 1 and
//! in position order.

mod common;

use common::event;
use eventstore::{
    AppendResult, Appender, AppenderOptions, Error, EventStore, ExpectedVersion, NewEvent,
    StreamAppend,
};
use proptest::prelude::*;
use std::collections::HashMap;
use testkit::TestDb;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const STREAMS: usize = 3;

/// How a request's expected version is chosen, relative to what the model holds at its turn.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Any,
    NoStream,
    /// The model's version plus this (-1: stale, 0: right, 1: from the future).
    Exact(i64),
}

#[derive(Debug, Clone)]
enum Op {
    /// New events (0 to 3) on one stream.
    Append {
        stream: usize,
        expect: Expect,
        events: usize,
    },
    /// New events on two streams at once: both are written or neither.
    Both {
        streams: (usize, usize),
        expects: (Expect, Expect),
    },
    /// The exact request an earlier op sent again (a client retrying after a lost answer).
    Retry { of: usize },
    /// An earlier op's first event id sent again on another stream: a caller bug.
    Reuse { of: usize },
    /// One event id twice in one request.
    Twice,
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        Just(Expect::Any),
        Just(Expect::NoStream),
        (-1i64..=1).prop_map(Expect::Exact),
        Just(Expect::Exact(0)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..STREAMS, expect(), 0usize..=3)
            .prop_map(|(stream, expect, events)| Op::Append { stream, expect, events }),
        2 => ((0..STREAMS, 0..STREAMS), (expect(), expect()))
            .prop_filter("two different streams", |((a, b), _)| a != b)
            .prop_map(|(streams, expects)| Op::Both { streams, expects }),
        2 => any::<usize>().prop_map(|of| Op::Retry { of }),
        1 => any::<usize>().prop_map(|of| Op::Reuse { of }),
        1 => Just(Op::Twice),
    ]
}

/// What the model says one request comes to.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// Per part: the stream's version after it, and whether anything new was stored.
    Stored(Vec<(i64, bool)>),
    WrongVersion {
        actual: i64,
    },
    Conflict,
    Twice,
}

/// The store as a sequence of requests leaves it.
#[derive(Default)]
struct Model {
    versions: HashMap<String, i64>,
    /// event id -> (stream, version)
    placed: HashMap<Uuid, (String, i64)>,
}

impl Model {
    fn version(&self, stream: &str) -> i64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    fn expected(&self, stream: &str, expect: Expect) -> ExpectedVersion {
        match expect {
            Expect::Any => ExpectedVersion::Any,
            Expect::NoStream => ExpectedVersion::NoStream,
            Expect::Exact(offset) => ExpectedVersion::Exact((self.version(stream) + offset).max(0)),
        }
    }

    /// Applies a request as the store must: all parts or none.
    fn apply(&mut self, parts: &[StreamAppend]) -> Answer {
        let mut ids = std::collections::HashSet::new();
        if parts
            .iter()
            .flat_map(|p| &p.events)
            .any(|e| !ids.insert(e.event_id))
        {
            return Answer::Twice;
        }
        let mut versions = self.versions.clone();
        let mut placed = Vec::new();
        let mut answers = Vec::new();
        for part in parts {
            let known: Vec<&(String, i64)> = part
                .events
                .iter()
                .filter_map(|e| self.placed.get(&e.event_id))
                .collect();
            if !known.is_empty() {
                if known.len() != part.events.len()
                    || known.iter().any(|(stream, _)| *stream != part.stream_id)
                {
                    return Answer::Conflict;
                }
                let version = known.iter().map(|(_, v)| *v).max().unwrap_or(0);
                answers.push((version, false));
                continue;
            }
            let actual = versions.get(&part.stream_id).copied().unwrap_or(0);
            let matches = match part.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(v) => v == actual,
            };
            if !matches {
                return Answer::WrongVersion { actual };
            }
            let mut version = actual;
            for event in &part.events {
                version += 1;
                placed.push((event.event_id, part.stream_id.clone(), version));
            }
            versions.insert(part.stream_id.clone(), version);
            answers.push((version, !part.events.is_empty()));
        }
        self.versions = versions;
        for (id, stream, version) in placed {
            self.placed.insert(id, (stream, version));
        }
        Answer::Stored(answers)
    }
}

fn answer_of(result: &Result<Vec<AppendResult>, Error>) -> Answer {
    match result {
        Ok(results) => Answer::Stored(
            results
                .iter()
                .map(|r| (r.stream_version, r.appended))
                .collect(),
        ),
        Err(Error::WrongExpectedVersion { actual, .. }) => Answer::WrongVersion { actual: *actual },
        Err(Error::IdempotencyConflict { .. }) => Answer::Conflict,
        Err(Error::DuplicateEventInBatch { .. }) => Answer::Twice,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n).map(|i| event("Noted", i as i64)).collect()
}

/// Turns the ops into requests, the model's answer to each, in order.
fn requests(
    ops: &[Op],
    model: &mut Model,
    sent: &mut Vec<Vec<StreamAppend>>,
    case: &str,
) -> Vec<(Vec<StreamAppend>, Answer)> {
    let stream = |n: usize| format!("{case}-{n}");
    let mut out = Vec::new();
    for op in ops {
        let parts = match op {
            Op::Append {
                stream: s,
                expect,
                events: n,
            } => vec![StreamAppend::new(
                stream(*s),
                model.expected(&stream(*s), *expect),
                events(*n),
            )],
            Op::Both {
                streams: (a, b),
                expects: (ea, eb),
            } => vec![
                StreamAppend::new(stream(*a), model.expected(&stream(*a), *ea), events(1)),
                StreamAppend::new(stream(*b), model.expected(&stream(*b), *eb), events(2)),
            ],
            Op::Retry { of } if !sent.is_empty() => sent[of % sent.len()].clone(),
            Op::Reuse { of } if sent.iter().any(|r| !r[0].events.is_empty()) => {
                let with_events: Vec<&Vec<StreamAppend>> =
                    sent.iter().filter(|r| !r[0].events.is_empty()).collect();
                let earlier = &with_events[of % with_events.len()][0];
                let mut reused = event("Noted", 99);
                reused.event_id = earlier.events[0].event_id;
                let other = format!("{}-other", earlier.stream_id);
                vec![StreamAppend::new(other, ExpectedVersion::Any, vec![reused])]
            }
            Op::Retry { .. } | Op::Reuse { .. } | Op::Twice => {
                let once = event("Noted", 1);
                let mut again = event("Noted", 2);
                again.event_id = once.event_id;
                vec![StreamAppend::new(
                    stream(0),
                    ExpectedVersion::Any,
                    vec![once, again],
                )]
            }
        };
        let answer = model.apply(&parts);
        sent.push(parts.clone());
        out.push((parts, answer));
    }
    out
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_requests_get_the_answers_of_a_sequential_model(
        rounds in prop::collection::vec(prop::collection::vec(op(), 1..8), 1..8)
    ) {
        let rt = runtime();
        rt.block_on(async {
            let db = TestDb::create().await.map_err(fail)?;
            let store = EventStore::new(db.pool.clone());
            let stop = CancellationToken::new();
            let (appender, _task) =
                Appender::start(store.clone(), AppenderOptions::default(), stop.clone());
            let case = Uuid::new_v4().simple().to_string();
            let mut model = Model::default();
            let mut sent = Vec::new();
            let mut first_positions: HashMap<Uuid, i64> = HashMap::new();
            for round in &rounds {
                let planned = requests(round, &mut model, &mut sent, &case);
                // Polled in order, so queued in order: the model's order is the appender's.
                let results = futures_util::future::join_all(
                    planned.iter().map(|(parts, _)| appender.append_streams(parts.clone())),
                )
                .await;
                for ((parts, expected), result) in planned.iter().zip(&results) {
                    prop_assert_eq!(&answer_of(result), expected, "request {:?}", parts);
                    if let Ok(results) = result {
                        for (part, got) in parts.iter().zip(results) {
                            prop_assert_eq!(got.positions.len(), part.events.len());
                            for (event, position) in part.events.iter().zip(&got.positions) {
                                // A retry is answered with the positions of the first time.
                                let first = *first_positions.entry(event.event_id).or_insert(*position);
                                prop_assert_eq!(first, *position);
                            }
                        }
                    }
                }
            }
            stop.cancel();

            // The store holds exactly the model's events: dense versions, in position order.
            for (stream, version) in &model.versions {
                let stored = store.read_whole_stream(stream).await.map_err(fail)?;
                prop_assert_eq!(stored.len() as i64, *version);
                for (i, event) in stored.iter().enumerate() {
                    prop_assert_eq!(event.stream_version, i as i64 + 1);
                    prop_assert_eq!(
                        model.placed.get(&event.event_id),
                        Some(&(stream.clone(), event.stream_version))
                    );
                }
                prop_assert!(stored.windows(2).all(|w| w[0].position < w[1].position));
            }
            let total = model.placed.len();
            let all = store.read_all(0, 100_000).await.map_err(fail)?;
            prop_assert_eq!(all.len(), total, "nothing stored beyond the model");
            Ok(())
        })?;
    }
}
