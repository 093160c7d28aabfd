-- State snapshots (postgres), shared by every node of a deployment: a node
-- starting with an empty data directory restores the newest one of its log
-- and replays only the records after it. `log_name` names the log the
-- snapshot was taken from (`kafka:<topic>` or `sqlite:<path>`); `state` is
-- the JSON of the switch's StateSnapshot.
CREATE TABLE IF NOT EXISTS snapshots (
    log_name     TEXT NOT NULL,
    next_offset  BIGINT NOT NULL,
    saved_at_ms  BIGINT NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (log_name, next_offset)
);
