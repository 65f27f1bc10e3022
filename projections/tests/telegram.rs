//! The Telegram links projection fed user events: which account a chat belongs to, as the bot asks
//! when someone sends /stop.

use domain::{UnlinkReason, UserEvent, UserId};
use eventstore::{EventStore, ExpectedVersion, NewEvent};
use projections::telegram::{user_of_chat, TelegramLinks};
use testkit::TestDb;
use uuid::Uuid;

/// Appends each user's events to their stream, then projects the whole log in one batch.
async fn project(db: &TestDb, events: &[UserEvent]) -> anyhow::Result<()> {
    let store = EventStore::new(db.pool.clone());
    projections::ensure_schema::<TelegramLinks>(&db.pool).await?;
    for event in events {
        let user = match event {
            UserEvent::TelegramLinked { user_id, .. }
            | UserEvent::TelegramUnlinked { user_id, .. } => *user_id,
            other => anyhow::bail!("not a link event: {other:?}"),
        };
        let new = NewEvent::from_data(Uuid::new_v4(), event.event_type(), event)?;
        store
            .append(&user.stream_id(), ExpectedVersion::Any, &[new])
            .await?;
    }
    projections::rebuild(&store, &TelegramLinks).await?;
    Ok(())
}

fn linked(user_id: UserId, chat_id: i64) -> UserEvent {
    UserEvent::TelegramLinked { user_id, chat_id }
}

fn unlinked(user_id: UserId, chat_id: i64, reason: UnlinkReason) -> UserEvent {
    UserEvent::TelegramUnlinked {
        user_id,
        chat_id,
        reason,
    }
}

#[tokio::test]
async fn a_chat_belongs_to_whoever_linked_it_last_until_it_is_unlinked() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let (ann, ben) = (UserId::new(), UserId::new());

    project(&db, &[linked(ann, 7)]).await?;
    assert_eq!(user_of_chat(&db.pool, 7).await?, Some(ann.as_uuid()));
    assert_eq!(user_of_chat(&db.pool, 8).await?, None);

    // The same Telegram chat linked to another account moves there.
    project(&db, &[linked(ben, 7)]).await?;
    assert_eq!(user_of_chat(&db.pool, 7).await?, Some(ben.as_uuid()));

    // Ann links a new chat, then replaces it: only the newest one is hers.
    project(
        &db,
        &[
            linked(ann, 8),
            unlinked(ann, 8, UnlinkReason::Relinked),
            linked(ann, 9),
        ],
    )
    .await?;
    assert_eq!(user_of_chat(&db.pool, 8).await?, None);
    assert_eq!(user_of_chat(&db.pool, 9).await?, Some(ann.as_uuid()));

    // /stop (or a blocked bot) unlinks.
    project(&db, &[unlinked(ben, 7, UnlinkReason::Stopped)]).await?;
    assert_eq!(user_of_chat(&db.pool, 7).await?, None);
    assert_eq!(user_of_chat(&db.pool, 9).await?, Some(ann.as_uuid()));
    Ok(())
}

#[tokio::test]
async fn a_user_has_one_linked_chat_even_without_an_unlink_event() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let ann = UserId::new();
    project(&db, &[linked(ann, 7), linked(ann, 8)]).await?;
    assert_eq!(user_of_chat(&db.pool, 7).await?, None);
    assert_eq!(user_of_chat(&db.pool, 8).await?, Some(ann.as_uuid()));
    Ok(())
}
