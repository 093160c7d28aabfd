//! Shared fixtures for the ledger tests.
#![allow(dead_code)]

use std::str::FromStr;

use harambee_ledger::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

pub fn usd() -> Currency {
    Currency::parse("USD").expect("USD")
}

pub fn ugx() -> Currency {
    Currency::parse("UGX").expect("UGX")
}

/// A fulfilment derived from a number, and its condition.
pub fn fulfilment(n: u64) -> [u8; 32] {
    Sha256::digest(format!("fulfilment-{n}")).into()
}

pub fn condition_of(f: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(f).into()
}

pub const T0: i64 = 1_700_000_000_000;
pub const EXPIRY: i64 = T0 + 30_000;

/// A ledger with USD and UGX enabled and three participants with USD
/// accounts: bank-a (cap 1000, 500 liquidity), bank-b (cap 1000, 500
/// liquidity) and wallet-c (cap 0, no liquidity).
pub struct Fixture {
    pub ledger: Ledger,
    pub a: ParticipantId,
    pub b: ParticipantId,
    pub c: ParticipantId,
    pub events: Vec<Event>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_usd_scale(None)
    }

    /// The fixture with USD kept at `scale` decimals (`None`: cents).
    pub fn with_usd_scale(scale: Option<u32>) -> Fixture {
        let mut ledger = Ledger::new();
        let mut events = Vec::new();
        for (c, scale) in [(usd(), scale), (ugx(), None)] {
            ok(ledger.apply(&Command::EnableCurrency { currency: c, scale }, &mut events));
        }
        let mut ids = Vec::new();
        for (name, kind) in [
            ("bank-a", ParticipantKind::Bank),
            ("bank-b", ParticipantKind::Bank),
            ("wallet-c", ParticipantKind::Wallet),
        ] {
            let reply = ok(ledger.apply(
                &Command::CreateParticipant {
                    name: name.into(),
                    kind,
                },
                &mut events,
            ));
            let Reply::Participant { participant } = reply else {
                panic!("{reply:?}")
            };
            ids.push(participant);
        }
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        for (p, cap) in [(a, "1000"), (b, "1000"), (c, "0")] {
            ok(ledger.apply(
                &Command::OpenAccounts {
                    participant: p,
                    currency: usd(),
                    net_debit_cap: d(cap),
                },
                &mut events,
            ));
        }
        for (i, p) in [a, b].into_iter().enumerate() {
            ok(ledger.apply(
                &Command::FundsIn {
                    funds_id: FundsId(1000 + i as u128),
                    participant: p,
                    currency: usd(),
                    amount: d("500"),
                },
                &mut events,
            ));
        }
        events.clear();
        Fixture {
            ledger,
            a,
            b,
            c,
            events,
        }
    }

    pub fn run(&mut self, cmd: Command) -> Outcome {
        self.events.clear();
        let outcome = self.ledger.apply(&cmd, &mut self.events);
        if let Err(e) = self.ledger.check_invariants() {
            panic!("invariant broken after {cmd:?}: {e}");
        }
        outcome
    }

    pub fn prepare(
        &mut self,
        id: u128,
        payer: ParticipantId,
        payee: ParticipantId,
        amount: &str,
    ) -> Outcome {
        self.run(prepare_cmd(id, payer, payee, amount))
    }

    pub fn commit(&mut self, id: u128, now_ms: i64) -> Outcome {
        self.run(Command::Commit {
            transfer_id: TransferId(id),
            fulfilment: fulfilment(id as u64),
            now_ms,
        })
    }

    pub fn position(&self, p: ParticipantId) -> PositionView {
        self.ledger.position(p, usd()).expect("position")
    }

    /// Runs a command that must be refused with `code` and change nothing.
    pub fn refused_unchanged(&mut self, cmd: Command, code: u16) -> LedgerError {
        let before = self.ledger.digest();
        let outcome = self.run(cmd.clone());
        let err = match outcome.result {
            Err(e) => e,
            Ok(r) => panic!("{cmd:?} should fail with {code}, got {r:?}"),
        };
        assert_eq!(err.code(), code, "{cmd:?}: {err}");
        assert!(self.events.is_empty(), "{cmd:?} emitted {:?}", self.events);
        assert_eq!(self.ledger.digest(), before, "{cmd:?} changed the state");
        err
    }
}

pub fn prepare_cmd(id: u128, payer: ParticipantId, payee: ParticipantId, amount: &str) -> Command {
    Command::Prepare {
        transfer_id: TransferId(id),
        payer,
        payee,
        currency: usd(),
        amount: d(amount),
        condition: condition_of(&fulfilment(id as u64)),
        expires_at_ms: EXPIRY,
        now_ms: T0,
    }
}

pub fn ok(outcome: Outcome) -> Reply {
    match outcome.result {
        Ok(r) => r,
        Err(e) => panic!("expected success, got {e} ({})", e.code()),
    }
}

pub fn code(outcome: &Outcome) -> u16 {
    match &outcome.result {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e.code(),
    }
}

pub fn transfer_state(reply: &Reply) -> (TransferState, u16) {
    match reply {
        Reply::Transfer { state, reason, .. } => (*state, *reason),
        other => panic!("not a transfer reply: {other:?}"),
    }
}
