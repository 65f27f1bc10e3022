-- Resume reads "a user's conversation streams after position P": one index range per stream.
CREATE INDEX events_by_stream_position ON events (stream_id, position);
