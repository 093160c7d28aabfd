-- The transfer projection (PostgreSQL). Rebuildable from the event log.
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id    TEXT PRIMARY KEY,
    payer          TEXT NOT NULL,
    payee          TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount         NUMERIC NOT NULL,
    state          TEXT NOT NULL,
    reason         BIGINT NOT NULL,
    condition      TEXT NOT NULL,
    fulfilment     TEXT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    prepared_at_ms BIGINT NOT NULL,
    resolved_at_ms BIGINT NOT NULL,
    log_offset     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_payer ON transfers (payer, transfer_id);
CREATE INDEX IF NOT EXISTS transfers_payee ON transfers (payee, transfer_id);
CREATE INDEX IF NOT EXISTS transfers_state ON transfers (state, transfer_id);
