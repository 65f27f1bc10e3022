-- Which Telegram chat is linked to which account, for the bot's /stop and for relinking a chat.
CREATE TABLE IF NOT EXISTS links (
    chat_id   bigint      PRIMARY KEY,
    user_id   uuid        NOT NULL UNIQUE,
    linked_at timestamptz NOT NULL
);
