-- The postings projection (sqlite): every double-entry movement the ledger
-- made, in log order. History, not state: a posting is written once and
-- never changed; (log_offset, event_index) identifies it, so writing it
-- again is a no-op. Rebuildable from the event log
-- (`harambee projections rebuild`).
CREATE TABLE IF NOT EXISTS postings (
    log_offset     INTEGER NOT NULL,
    event_index    INTEGER NOT NULL,
    time_ms        INTEGER NOT NULL,
    event          TEXT NOT NULL,
    reference      TEXT NOT NULL,
    debit_account  INTEGER NOT NULL,
    debit_owner    TEXT NOT NULL,
    debit_type     TEXT NOT NULL,
    credit_account INTEGER NOT NULL,
    credit_owner   TEXT NOT NULL,
    credit_type    TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount         TEXT NOT NULL,
    phase          TEXT NOT NULL,
    PRIMARY KEY (log_offset, event_index)
);
CREATE INDEX IF NOT EXISTS postings_debit_owner ON postings (debit_owner, log_offset, event_index);
CREATE INDEX IF NOT EXISTS postings_credit_owner ON postings (credit_owner, log_offset, event_index);
CREATE INDEX IF NOT EXISTS postings_reference ON postings (reference);
