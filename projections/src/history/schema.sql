-- The history read model: conversations, each member's view of them, and their messages.
-- Unqualified names: the runner sets search_path to the live schema (history) or a rebuild's shadow.
--
-- Version 3 added each member's `muted` switch and `departures`.
-- Version 2 added groups. The ALTER statements at the end bring version 1's live tables to the
-- new shape while version 2 rebuilds its own beside them, so reads keep working meanwhile (the old
-- tables hold only pairs, which the new columns' defaults describe).

CREATE TABLE IF NOT EXISTS conversations (
    conversation_id  uuid        PRIMARY KEY,
    -- 'direct' (a pair) or 'group'.
    kind             text        NOT NULL DEFAULT 'direct',
    -- A group's.
    title            text,
    member_count     bigint      NOT NULL DEFAULT 2,
    started_at       timestamptz NOT NULL,
    -- The last timeline entry's seq: a message or a group's system entry.
    last_seq         bigint      NOT NULL DEFAULT 0,
    -- The last entry's time (or the start): orders the conversation list.
    last_activity_at timestamptz NOT NULL
);

-- One row per current member (a removed one's row goes: they see nothing any more).
-- In a pair: who the peer is, and the unread count kept per message. In a group: the member's
-- role and join point; unread is derived (`last_seq - read_up_to`, sending counts as reading), so
-- a message costs no write per member.
CREATE TABLE IF NOT EXISTS members (
    user_id           uuid   NOT NULL,
    conversation_id   uuid   NOT NULL,
    -- A pair's other member; NULL in a group.
    peer_id           uuid,
    peer_username     text,
    peer_display_name text,
    read_up_to        bigint NOT NULL DEFAULT 0,
    -- A pair's; not kept for a group.
    unread            bigint NOT NULL DEFAULT 0,
    -- A group's: 'owner', 'admin' or 'member'.
    role              text,
    -- The last seq before the member joined: they see the entries after it.
    joined_after      bigint NOT NULL DEFAULT 0,
    -- A group member's names as of joining (a pair shows the peer's instead).
    username          text,
    display_name      text,
    -- The member turned this conversation's Telegram notifications off.
    muted             boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX IF NOT EXISTS members_by_conversation ON members (conversation_id);

-- Messages, and a group's system entries ("ann added ben"), one timeline ordered by seq.
CREATE TABLE IF NOT EXISTS messages (
    conversation_id     uuid        NOT NULL,
    seq                 bigint      NOT NULL,
    -- A system entry's is its event's id.
    message_id          uuid        NOT NULL UNIQUE,
    -- A system entry's: who did it.
    sender_id           uuid        NOT NULL,
    sender_username     text        NOT NULL,
    sender_display_name text        NOT NULL,
    -- NULL once deleted (the old text is gone from the read model), and for a system entry.
    body                text,
    client_id           text        NOT NULL,
    sent_at             timestamptz NOT NULL,
    edited_at           timestamptz,
    deleted_at          timestamptz,
    -- The event store position of the send: the cursor of real-time resume.
    position            bigint      NOT NULL,
    -- 'message', or a system entry: 'member_added', 'member_left', 'member_removed', 'renamed',
    -- 'ownership_transferred', 'role_changed'.
    entry               text        NOT NULL DEFAULT 'message',
    -- Who a system entry is about (added, removed, new owner, new role).
    subject_id          uuid,
    subject_username    text,
    subject_display_name text,
    -- A rename's new title, a role change's role.
    detail              text,
    PRIMARY KEY (conversation_id, seq)
);

-- The last time each person left or was removed from a group (the log position of their
-- `MemberRemoved`): a socket resuming from before it still replays that group up to the removal,
-- so the client learns it left.
CREATE TABLE IF NOT EXISTS departures (
    user_id         uuid   NOT NULL,
    conversation_id uuid   NOT NULL,
    position        bigint NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);

ALTER TABLE conversations ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'direct',
                          ADD COLUMN IF NOT EXISTS title text,
                          ADD COLUMN IF NOT EXISTS member_count bigint NOT NULL DEFAULT 2;
ALTER TABLE members ALTER COLUMN peer_id DROP NOT NULL,
                    ALTER COLUMN peer_username DROP NOT NULL,
                    ALTER COLUMN peer_display_name DROP NOT NULL,
                    ADD COLUMN IF NOT EXISTS role text,
                    ADD COLUMN IF NOT EXISTS joined_after bigint NOT NULL DEFAULT 0,
                    ADD COLUMN IF NOT EXISTS username text,
                    ADD COLUMN IF NOT EXISTS display_name text,
                    ADD COLUMN IF NOT EXISTS muted boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS entry text NOT NULL DEFAULT 'message',
                     ADD COLUMN IF NOT EXISTS subject_id uuid,
                     ADD COLUMN IF NOT EXISTS subject_username text,
                     ADD COLUMN IF NOT EXISTS subject_display_name text,
                     ADD COLUMN IF NOT EXISTS detail text;
