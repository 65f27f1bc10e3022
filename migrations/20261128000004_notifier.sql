-- The notifier's durable state. Not a projection: it records what was sent to Telegram, which
-- cannot be replayed.

-- One row per (message, recipient) handled, whatever the outcome: a redelivered or replayed message
-- is recognised and nothing is sent twice.
CREATE TABLE notifier_handled (
    message_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    outcome    text        NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id)
);

-- The live notification per recipient and conversation while it has unread messages; later
-- messages edit it, reading the conversation deletes it.
CREATE TABLE notifier_notifications (
    user_id             uuid        NOT NULL,
    conversation_id     uuid        NOT NULL,
    chat_id             bigint      NOT NULL,
    -- NULL between recording the intent and Telegram's answer.
    telegram_message_id integer,
    unread              integer     NOT NULL,
    last_seq            bigint      NOT NULL,
    sender_name         text        NOT NULL,
    preview             text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_edit_at        timestamptz NOT NULL DEFAULT now(),
    -- Newer messages arrived since the last edit; the flusher edits when the chat's interval allows.
    dirty               boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, conversation_id)
);
