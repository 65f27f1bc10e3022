-- Group notifications name the group and its latest senders. NULL title: a pair's notification.
-- `senders`: display names of the latest distinct senders, newest first (at most four kept: three
-- are shown, a fourth means "and others").
ALTER TABLE notifier_notifications ADD COLUMN title text,
                                   ADD COLUMN senders text[] NOT NULL DEFAULT '{}';
