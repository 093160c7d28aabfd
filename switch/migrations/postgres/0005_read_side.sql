-- The read side tails the log from a checkpoint (postgres). Each reader
-- keeps the position it has written up to, in the same transaction as the
-- rows: after a crash it starts again from there and writes nothing twice.
CREATE TABLE IF NOT EXISTS checkpoints (
    reader         TEXT PRIMARY KEY,
    -- The next log offset to project (every record below is written).
    log_offset     BIGINT NOT NULL,
    -- The index of the next event of that record (0: the whole record).
    event_index    BIGINT NOT NULL
);
-- Notifications of each participant, numbered from 1 in log order: what
-- the Notifications stream resumes from. `notification` is the encoded
-- harambee.v1.Notification.
CREATE TABLE IF NOT EXISTS notices (
    participant    TEXT NOT NULL,
    sequence       BIGINT NOT NULL,
    log_offset     BIGINT NOT NULL,
    time_ms        BIGINT NOT NULL,
    notification   BYTEA NOT NULL,
    PRIMARY KEY (participant, sequence)
);
CREATE INDEX IF NOT EXISTS notices_time ON notices (time_ms);
-- Quotes stay answerable (GetQuote, a repeated request) after they leave
-- the switch's memory.
ALTER TABLE quotes ADD COLUMN IF NOT EXISTS request_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE quotes ADD COLUMN IF NOT EXISTS response BYTEA NOT NULL DEFAULT '';
