-- The user directory: who can be found by the start of their username or display name.
-- Unqualified names: the runner sets search_path to the live schema (directory) or a rebuild's shadow.

CREATE TABLE IF NOT EXISTS users (
    user_id       uuid        PRIMARY KEY,
    -- Stored lower-case by the domain (usernames compare case-insensitively).
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    registered_at timestamptz NOT NULL
);
-- `text_pattern_ops` lets `lower(...) LIKE 'an%'` use the index whatever the database's collation
-- (a plain index serves prefix LIKE only under the C collation).
CREATE INDEX IF NOT EXISTS users_by_username_prefix ON users (username text_pattern_ops);
CREATE INDEX IF NOT EXISTS users_by_display_name_prefix ON users (lower(display_name) text_pattern_ops);
