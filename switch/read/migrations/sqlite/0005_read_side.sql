-- The read side tails the log from a checkpoint (sqlite). Each reader keeps
-- the position it has written up to, in the same transaction as the rows:
-- after a crash it starts again from there and writes nothing twice.
CREATE TABLE IF NOT EXISTS checkpoints (
    reader         TEXT PRIMARY KEY,
    -- The next log offset to project (every record below is written).
    log_offset     INTEGER NOT NULL,
    -- The index of the next event of that record (0: the whole record).
    event_index    INTEGER NOT NULL
);
-- Notifications of each participant, numbered from 1 in log order: what
-- the Notifications stream resumes from. A transfer's notification names
-- the transfer (`kind` TRANSFER_COMMITTED or TRANSFER_ABORTED and
-- `transfer_id`; the stream reads the final transfer when it sends it);
-- any other is stored whole in `notification` (an encoded
-- harambee.v1.Notification). Times grow with the sequence, so old ones are
-- deleted by a range of the key, with no other index.
CREATE TABLE IF NOT EXISTS notices (
    participant    TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    log_offset     INTEGER NOT NULL,
    time_ms        INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    transfer_id    TEXT NOT NULL,
    notification   BLOB NOT NULL,
    PRIMARY KEY (participant, sequence)
) WITHOUT ROWID;
-- Quotes stay answerable (GetQuote, a repeated request) after they leave
-- the switch's memory.
ALTER TABLE quotes ADD COLUMN request_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE quotes ADD COLUMN response BLOB NOT NULL DEFAULT x'';
