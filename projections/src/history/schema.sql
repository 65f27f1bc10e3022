-- The history read model: conversations, each member's view of them, and their messages.
-- Unqualified names: the runner sets search_path to the live schema (history) or a rebuild's shadow.

CREATE TABLE IF NOT EXISTS conversations (
    conversation_id  uuid        PRIMARY KEY,
    started_at       timestamptz NOT NULL,
    last_seq         bigint      NOT NULL DEFAULT 0,
    -- The last message's time (or the start): orders the conversation list.
    last_activity_at timestamptz NOT NULL
);

-- One row per member: who the peer is, how far this member has read, how many unread.
CREATE TABLE IF NOT EXISTS members (
    user_id           uuid   NOT NULL,
    conversation_id   uuid   NOT NULL,
    peer_id           uuid   NOT NULL,
    peer_username     text   NOT NULL,
    peer_display_name text   NOT NULL,
    read_up_to        bigint NOT NULL DEFAULT 0,
    unread            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX IF NOT EXISTS members_by_conversation ON members (conversation_id);

CREATE TABLE IF NOT EXISTS messages (
    conversation_id     uuid        NOT NULL,
    seq                 bigint      NOT NULL,
    message_id          uuid        NOT NULL UNIQUE,
    sender_id           uuid        NOT NULL,
    sender_username     text        NOT NULL,
    sender_display_name text        NOT NULL,
    -- NULL once deleted: the old text is gone from the read model.
    body                text,
    client_id           text        NOT NULL,
    sent_at             timestamptz NOT NULL,
    edited_at           timestamptz,
    deleted_at          timestamptz,
    -- The event store position of the send: the cursor of real-time resume.
    position            bigint      NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
