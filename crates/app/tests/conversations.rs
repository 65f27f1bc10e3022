//! Conversation commands against the real Postgres: concurrent senders on one conversation, in one
//! process and across two (each with its own cache and appender), never fail for contention and
//! get dense seqs; a stale cache never answers a wrong refusal.

use app::{Accounts, AppError, Conversations, HashCost, Password, PasswordHasher, SentMessage};
use domain::{ClientId, ConversationId, MessageBody, UserId, Username};
use eventstore::{Appender, AppenderOptions, EventStore};
use std::collections::HashSet;
use std::time::Duration;
use testkit::{append_lock, TestDb};
use tokio_util::sync::CancellationToken;

/// One API process's command side: its own cache and its own appender.
struct Process {
    accounts: Accounts,
    conversations: Conversations,
    _stop: tokio_util::sync::DropGuard,
}

fn process(db: &TestDb) -> anyhow::Result<Process> {
    process_on(db.pool.clone(), app::DEFAULT_ANSWER_WITHIN)
}

fn process_on(pool: sqlx::PgPool, wait: Duration) -> anyhow::Result<Process> {
    let store = EventStore::new(pool);
    let stop = CancellationToken::new();
    let (appender, _task) =
        Appender::start(store.clone(), AppenderOptions::default(), stop.clone());
    // The cheapest argon2 parameters: these tests are about conversations, not passwords.
    let hasher = PasswordHasher::new(HashCost {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    })?;
    let accounts = Accounts::new(store.clone(), appender.clone(), hasher);
    Ok(Process {
        conversations: Conversations::new(store, appender, accounts.clone()).answering_within(wait),
        accounts,
        _stop: stop.drop_guard(),
    })
}

async fn user(process: &Process, name: &str) -> anyhow::Result<UserId> {
    let profile = process
        .accounts
        .register(
            Username::parse(name)?,
            Password::unchecked("a long enough password"),
            None,
        )
        .await?;
    Ok(profile.id)
}

fn body(text: &str) -> anyhow::Result<MessageBody> {
    Ok(MessageBody::parse(text)?)
}

/// Sends `per_sender` messages from each of `senders` at once, each sender picking a process.
async fn send_all(
    processes: &[&Process],
    id: ConversationId,
    senders: &[UserId],
    per_sender: usize,
) -> anyhow::Result<Vec<i64>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (n, sender) in senders.iter().copied().enumerate() {
        let conversations = processes[n % processes.len()].conversations.clone();
        tasks.spawn(async move {
            let mut seqs = Vec::new();
            for m in 0..per_sender {
                let sent = conversations
                    .send(
                        id,
                        sender,
                        ClientId::parse(&format!("{n}-{m}"))?,
                        body(&format!("{n}-{m}"))?,
                    )
                    .await?;
                assert!(sent.created);
                seqs.push(sent.seq);
            }
            anyhow::Ok(seqs)
        });
    }
    let mut seqs = Vec::new();
    while let Some(done) = tasks.join_next().await {
        seqs.extend(done??);
    }
    seqs.sort_unstable();
    Ok(seqs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_sends_into_one_conversation_all_succeed_with_dense_seqs(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let api = process(&db)?;
    let ann = user(&api, "ann").await?;
    user(&api, "ben").await?;
    let (id, _) = api
        .conversations
        .start(ann, &Username::parse("ben")?)
        .await?;
    let ben = api
        .accounts
        .profile_by_username(&Username::parse("ben")?)
        .await?
        .id;
    let senders: Vec<UserId> = (0..64)
        .map(|n| if n % 2 == 0 { ann } else { ben })
        .collect();
    let seqs = send_all(&[&api], id, &senders, 10).await?;
    assert_eq!(seqs, (1..=640).collect::<Vec<i64>>());
    // They shared appends: far fewer transactions than messages.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE event_type = 'MessageSent'",
    )
    .fetch_one(&db.pool)
    .await?;
    assert!(
        transactions < 640,
        "{transactions} transactions for 640 sends"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sending_into_one_conversation_never_fail_and_never_skip_a_seq(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (first, second) = (process(&db)?, process(&db)?);
    let ann = user(&first, "ann").await?;
    let ben = user(&second, "ben").await?;
    let (id, _) = first
        .conversations
        .start(ann, &Username::parse("ben")?)
        .await?;
    let senders: Vec<UserId> = (0..16)
        .map(|n| if n % 2 == 0 { ann } else { ben })
        .collect();
    let seqs = send_all(&[&first, &second], id, &senders, 20).await?;
    assert_eq!(seqs, (1..=320).collect::<Vec<i64>>());
    let stored: Vec<i64> = sqlx::query_scalar(
        "SELECT (data->>'seq')::bigint FROM events WHERE event_type = 'MessageSent' ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await?;
    assert_eq!(
        stored,
        (1..=320).collect::<Vec<i64>>(),
        "seqs follow the log"
    );
    assert_eq!(stored.iter().collect::<HashSet<_>>().len(), 320);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_writing_one_busy_conversation_never_refuse_a_send() -> anyhow::Result<()> {
    // Every process's cache goes stale at every append of the others, which is what the API
    // processes see when clients flush their queues at once after an outage.
    let db = TestDb::create().await?;
    let processes = (0..8)
        .map(|_| process(&db))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ann = user(&processes[0], "ann").await?;
    let ben = user(&processes[0], "ben").await?;
    let (id, _) = processes[0]
        .conversations
        .start(ann, &Username::parse("ben")?)
        .await?;
    let senders: Vec<UserId> = (0..64)
        .map(|n| if n % 2 == 0 { ann } else { ben })
        .collect();
    let all: Vec<&Process> = processes.iter().collect();
    let seqs = send_all(&all, id, &senders, 15).await?;
    assert_eq!(seqs, (1..=960).collect::<Vec<i64>>());
    Ok(())
}

#[tokio::test]
async fn a_stale_cache_does_not_refuse_what_another_process_made_possible() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (first, second) = (process(&db)?, process(&db)?);
    let ann = user(&first, "ann").await?;
    let ben = user(&first, "ben").await?;
    let (id, _) = first
        .conversations
        .start(ann, &Username::parse("ben")?)
        .await?;
    // The first process caches the conversation...
    first
        .conversations
        .send(id, ann, ClientId::parse("a")?, body("hello")?)
        .await?;
    // ...then ben sends through the second process, which the first does not see.
    let sent = second
        .conversations
        .send(id, ben, ClientId::parse("b")?, body("hi")?)
        .await?;
    // Editing that message through the first process finds it (no stale "not found").
    let edited = first
        .conversations
        .edit(id, ben, sent.message_id, body("hi there")?)
        .await?;
    assert!(edited.is_some());
    // A resend through the stale process answers the stored message, not a second copy.
    let again = first
        .conversations
        .send(id, ben, ClientId::parse("b")?, body("hi")?)
        .await?;
    assert!(!again.created);
    assert_eq!((again.message_id, again.seq), (sent.message_id, 2));
    // Refusals still stand when the cache is current.
    let refused = first
        .conversations
        .edit(id, ann, sent.message_id, body("not mine")?)
        .await;
    assert!(matches!(refused, Err(AppError::Forbidden { .. })));
    Ok(())
}

/// Ann and Ben's conversation, and a send of Ann's into it held up at the append lock, which the
/// returned transaction holds until it commits; the task answers the send and how long it took.
async fn send_held_at_the_lock(
    db: &TestDb,
    process: &Process,
) -> anyhow::Result<(
    ConversationId,
    UserId,
    sqlx::Transaction<'static, sqlx::Postgres>,
    HeldSend,
)> {
    let ann = user(process, "ann").await?;
    user(process, "ben").await?;
    let (id, _) = process
        .conversations
        .start(ann, &Username::parse("ben")?)
        .await?;
    let blocker = append_lock::hold(&db.pool).await?;
    let conversations = process.conversations.clone();
    let send = tokio::spawn(async move {
        let started = std::time::Instant::now();
        // Bounded as the faces bound it: the whole wait, once.
        let sent = conversations
            .deadline()
            .run(conversations.send(id, ann, ClientId::parse("held")?, body("held up")?))
            .await
            .flatten();
        anyhow::Ok((sent, started.elapsed()))
    });
    append_lock::until_awaited(&db.pool).await?;
    Ok((id, ann, blocker, send))
}

type HeldSend = tokio::task::JoinHandle<anyhow::Result<(Result<SentMessage, AppError>, Duration)>>;

#[tokio::test]
async fn during_an_outage_a_held_up_send_answers_timed_out_and_its_resend_finds_it_stored(
) -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    // Two connections: the appender's, and one this test holds to make the pool run dry.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(200))
        .connect(&db.url)
        .await?;
    let deadline = Duration::from_millis(300);
    let process = process_on(pool.clone(), deadline)?;
    // Another writer holds the append lock: the send reaches the appender and waits there...
    let (id, ann, blocker, send) = send_held_at_the_lock(&db, &process).await?;
    // ...while the database looks unreachable: no connection is to be had.
    let held = pool.acquire().await?;
    let read = process.conversations.for_member(id, ann).await;
    assert!(matches!(read, Err(AppError::Unavailable(_))), "{read:?}");
    // Without the deadline it would wait for the lock this test holds: bound the wait.
    let (sent, took) = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .map_err(|_| anyhow::anyhow!("the send still waits after 10 s"))???;
    assert!(
        matches!(sent, Err(AppError::TimedOut(waited)) if waited == deadline),
        "{sent:?}"
    );
    assert!(took >= deadline, "answered after {took:?}");

    // Its caller was told it may still be made: once the lock is free it is, and a resend
    // (retried like a client would while the store refuses reads for a moment) is answered
    // with that one message instead of storing a second.
    drop(held);
    blocker.commit().await?;
    let mut attempts = 0;
    let resent = loop {
        attempts += 1;
        match process
            .conversations
            .send(id, ann, ClientId::parse("held")?, body("held up")?)
            .await
        {
            Err(AppError::Unavailable(_) | AppError::TimedOut(_)) if attempts < 50 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break other?,
        }
    };
    assert!(!resent.created, "the first attempt was stored after all");
    assert_eq!(resent.seq, 1);
    let copies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'MessageSent'")
            .fetch_one(&db.pool)
            .await?;
    assert_eq!(copies, 1);
    Ok(())
}

#[tokio::test]
async fn a_send_held_up_by_a_busy_but_reachable_database_is_waited_for() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let process = process_on(db.pool.clone(), Duration::from_millis(100))?;
    let (_, _, blocker, send) = send_held_at_the_lock(&db, &process).await?;
    // Well past the deadline, the send still waits instead of failing for load.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!send.is_finished(), "a busy database failed the send");
    blocker.commit().await?;
    let (sent, _) = send.await??;
    let sent = sent?;
    assert!(sent.created);
    assert_eq!(sent.seq, 1);
    Ok(())
}
