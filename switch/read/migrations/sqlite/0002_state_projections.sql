-- Current positions, parties of the built-in oracle and agreed quotes
-- (sqlite). Rebuildable from the event log; each row keeps the log offset it
-- reflects and is only replaced by a later one.
CREATE TABLE IF NOT EXISTS positions (
    fsp_id         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    position       TEXT NOT NULL,
    reserved       TEXT NOT NULL,
    liquidity      TEXT NOT NULL,
    net_debit_cap  TEXT NOT NULL,
    log_offset     INTEGER NOT NULL,
    PRIMARY KEY (fsp_id, currency)
);
-- owner is empty once the party is deregistered.
CREATE TABLE IF NOT EXISTS parties (
    party_type     TEXT NOT NULL,
    party_id       TEXT NOT NULL,
    sub_id         TEXT NOT NULL,
    owner          TEXT NOT NULL,
    log_offset     INTEGER NOT NULL,
    PRIMARY KEY (party_type, party_id, sub_id)
);
CREATE INDEX IF NOT EXISTS parties_owner ON parties (owner);
CREATE TABLE IF NOT EXISTS quotes (
    quote_id       TEXT PRIMARY KEY,
    payer          TEXT NOT NULL,
    payee          TEXT NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    recorded_at_ms INTEGER NOT NULL,
    log_offset     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quotes_payer ON quotes (payer, recorded_at_ms);
