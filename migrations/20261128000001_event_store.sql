-- The event store: the only source of truth besides sessions. Events are appended, never changed.

CREATE TABLE events (
    -- Global order. Appends are serialized (see crates/eventstore/src/append.rs), so positions become
    -- visible in increasing order and a reader can follow "everything after position P" safely.
    position        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Chosen by the writer; a retried append with the same ids stores nothing twice.
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    -- 1-based, dense per stream: the optimistic concurrency token.
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 200),
    schema_version  integer     NOT NULL DEFAULT 1 CHECK (schema_version > 0),
    data            jsonb       NOT NULL,
    -- correlation_id, causation_id, actor.
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);

-- The current version of each stream, so an append checks its expected version with one row lookup.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 0)
);

CREATE FUNCTION events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % on events is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- How far each subscriber (projector, publisher, ...) has processed the global log. Written in the
-- same transaction as the subscriber's own read-model changes, so each event is applied exactly once.
CREATE TABLE checkpoints (
    subscriber text        PRIMARY KEY,
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
