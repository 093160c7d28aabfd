//! One test per ledger rule and error code.

mod common;

use common::*;
use harambee_ledger::*;

// ----- reference data -----------------------------------------------------

#[test]
fn enable_currency_opens_hub_accounts_once() {
    let mut ledger = Ledger::new();
    let mut events = Vec::new();
    let kes = Currency::parse("KES").expect("KES");
    let first = ledger.apply(
        &Command::EnableCurrency {
            currency: kes,
            scale: None,
        },
        &mut events,
    );
    assert!(!first.duplicate);
    let hub = *ledger.hub_currency(kes).expect("hub accounts");
    assert_eq!(
        ledger.account(hub.reconciliation).map(|a| a.kind),
        Some(AccountType::HubReconciliation)
    );
    assert_eq!(
        ledger.account(hub.multilateral_settlement).map(|a| a.kind),
        Some(AccountType::HubMultilateralSettlement)
    );
    assert_eq!(events.len(), 1);
    let again = ledger.apply(
        &Command::EnableCurrency {
            currency: kes,
            scale: None,
        },
        &mut events,
    );
    assert!(again.duplicate);
    assert_eq!(events.len(), 1, "a duplicate emits nothing");
    assert_eq!(ledger.accounts().len(), 2);
}

#[test]
fn create_participant_is_idempotent_by_name() {
    let mut f = Fixture::new();
    let again = f.run(Command::CreateParticipant {
        name: "bank-a".into(),
        kind: ParticipantKind::Bank,
    });
    assert!(again.duplicate);
    assert_eq!(again.result, Ok(Reply::Participant { participant: f.a }));
    f.refused_unchanged(
        Command::CreateParticipant {
            name: "bank-a".into(),
            kind: ParticipantKind::Wallet,
        },
        3106,
    );
    let p = f.ledger.participant_by_name("wallet-c").expect("wallet-c");
    assert_eq!(
        (p.id, p.kind, p.active),
        (f.c, ParticipantKind::Wallet, true)
    );
}

#[test]
fn participant_names_are_validated() {
    let mut f = Fixture::new();
    let long = "x".repeat(PARTICIPANT_NAME_LENGTH_MAX + 1);
    for bad in [
        "",
        "Bank",
        "bank a",
        "-bank",
        "bank_a",
        long.as_str(),
        "bänk",
    ] {
        f.refused_unchanged(
            Command::CreateParticipant {
                name: bad.into(),
                kind: ParticipantKind::Bank,
            },
            3100,
        );
    }
    let max = "y".repeat(PARTICIPANT_NAME_LENGTH_MAX);
    ok(f.run(Command::CreateParticipant {
        name: max,
        kind: ParticipantKind::Bank,
    }));
}

#[test]
fn open_accounts_rules() {
    let mut f = Fixture::new();
    f.refused_unchanged(
        Command::OpenAccounts {
            participant: ParticipantId(99),
            currency: usd(),
            net_debit_cap: d("1"),
        },
        3200,
    );
    let kes = Currency::parse("KES").expect("KES");
    f.refused_unchanged(
        Command::OpenAccounts {
            participant: f.a,
            currency: kes,
            net_debit_cap: d("1"),
        },
        3100,
    );
    f.refused_unchanged(
        Command::OpenAccounts {
            participant: f.a,
            currency: ugx(),
            net_debit_cap: d("-1"),
        },
        3100,
    );
    f.refused_unchanged(
        Command::OpenAccounts {
            participant: f.a,
            currency: ugx(),
            net_debit_cap: d("1.5"),
        },
        3100,
    );
    let dup = f.run(Command::OpenAccounts {
        participant: f.a,
        currency: usd(),
        net_debit_cap: d("1000"),
    });
    assert!(dup.duplicate);
    f.refused_unchanged(
        Command::OpenAccounts {
            participant: f.a,
            currency: usd(),
            net_debit_cap: d("999"),
        },
        3106,
    );
    ok(f.run(Command::OpenAccounts {
        participant: f.a,
        currency: ugx(),
        net_debit_cap: d("0"),
    }));
    let pc = *f
        .ledger
        .participant_currency(f.a, ugx())
        .expect("UGX accounts");
    assert_eq!(
        f.ledger.account(pc.position).map(|a| a.kind),
        Some(AccountType::Position)
    );
    assert_eq!(
        f.ledger.account(pc.settlement).map(|a| a.kind),
        Some(AccountType::Settlement)
    );
}

#[test]
fn set_active_and_net_debit_cap() {
    let mut f = Fixture::new();
    f.refused_unchanged(
        Command::SetParticipantActive {
            participant: ParticipantId(0),
            active: false,
        },
        3200,
    );
    f.refused_unchanged(
        Command::SetParticipantActive {
            participant: ParticipantId(4),
            active: false,
        },
        3200,
    );
    let o = f.run(Command::SetParticipantActive {
        participant: f.a,
        active: true,
    });
    assert!(o.duplicate, "already active");
    ok(f.run(Command::SetParticipantActive {
        participant: f.a,
        active: false,
    }));
    assert!(!f.ledger.participant(f.a).expect("a").active);

    ok(f.run(Command::SetNetDebitCap {
        participant: f.b,
        currency: usd(),
        net_debit_cap: d("250.75"),
    }));
    assert_eq!(f.position(f.b).net_debit_cap, 25075);
    assert!(
        f.run(Command::SetNetDebitCap {
            participant: f.b,
            currency: usd(),
            net_debit_cap: d("250.75")
        })
        .duplicate
    );
    f.refused_unchanged(
        Command::SetNetDebitCap {
            participant: f.b,
            currency: usd(),
            net_debit_cap: d("-5"),
        },
        3100,
    );
    f.refused_unchanged(
        Command::SetNetDebitCap {
            participant: f.b,
            currency: usd(),
            net_debit_cap: d("1.001"),
        },
        3100,
    );
    f.refused_unchanged(
        Command::SetNetDebitCap {
            participant: f.b,
            currency: ugx(),
            net_debit_cap: d("5"),
        },
        3200,
    );
    f.refused_unchanged(
        Command::SetNetDebitCap {
            participant: ParticipantId(77),
            currency: usd(),
            net_debit_cap: d("5"),
        },
        3200,
    );
}

// ----- funds in and out ---------------------------------------------------------

#[test]
fn funds_in_credits_settlement_and_is_idempotent() {
    let mut f = Fixture::new();
    let cmd = Command::FundsIn {
        funds_id: FundsId(7),
        participant: f.c,
        currency: usd(),
        amount: d("120.50"),
    };
    assert_eq!(
        ok(f.run(cmd.clone())),
        Reply::Funds {
            funds_id: FundsId(7),
            state: FundsState::Committed
        }
    );
    assert_eq!(f.position(f.c).liquidity, 12050);
    let hub = *f.ledger.hub_currency(usd()).expect("hub");
    let recon = f
        .ledger
        .account(hub.reconciliation)
        .expect("recon")
        .balances;
    assert_eq!(recon.debits_posted, 50_000 + 50_000 + 12_050);
    let Some(Event::FundsIn { posting, .. }) = f.events.first() else {
        panic!("{:?}", f.events)
    };
    assert_eq!(
        (posting.amount, posting.phase),
        (12050, PostingPhase::Posted)
    );
    let again = f.run(cmd);
    assert!(again.duplicate);
    assert_eq!(f.position(f.c).liquidity, 12050, "a retry moves no money");
    f.refused_unchanged(
        Command::FundsIn {
            funds_id: FundsId(7),
            participant: f.c,
            currency: usd(),
            amount: d("120.51"),
        },
        3106,
    );
    f.refused_unchanged(
        Command::FundsIn {
            funds_id: FundsId(8),
            participant: ParticipantId(50),
            currency: usd(),
            amount: d("1"),
        },
        3200,
    );
    f.refused_unchanged(
        Command::FundsIn {
            funds_id: FundsId(8),
            participant: f.c,
            currency: ugx(),
            amount: d("1"),
        },
        3200,
    );
    for bad in ["0", "-1", "0.001"] {
        f.refused_unchanged(
            Command::FundsIn {
                funds_id: FundsId(8),
                participant: f.c,
                currency: usd(),
                amount: d(bad),
            },
            3100,
        );
    }
}

#[test]
fn funds_out_reserve_commit_abort() {
    let mut f = Fixture::new();
    let a = f.a;
    let reserve = |id: u128, amount: &str| Command::FundsOutReserve {
        funds_id: FundsId(id),
        participant: a,
        currency: usd(),
        amount: d(amount),
    };
    ok(f.run(reserve(1, "100")));
    assert_eq!(
        f.position(f.a).liquidity,
        40_000,
        "a reserved withdrawal is not liquidity"
    );
    ok(f.run(Command::FundsOutCommit {
        funds_id: FundsId(1),
    }));
    assert_eq!(f.position(f.a).liquidity, 40_000);
    assert!(
        f.run(Command::FundsOutCommit {
            funds_id: FundsId(1)
        })
        .duplicate
    );
    f.refused_unchanged(
        Command::FundsOutAbort {
            funds_id: FundsId(1),
        },
        3106,
    );

    ok(f.run(reserve(2, "50")));
    ok(f.run(Command::FundsOutAbort {
        funds_id: FundsId(2),
    }));
    assert_eq!(
        f.position(f.a).liquidity,
        40_000,
        "an aborted withdrawal gives the liquidity back"
    );
    f.refused_unchanged(
        Command::FundsOutCommit {
            funds_id: FundsId(2),
        },
        3106,
    );
    f.refused_unchanged(
        Command::FundsOutCommit {
            funds_id: FundsId(3),
        },
        3200,
    );
    f.refused_unchanged(
        Command::FundsOutCommit {
            funds_id: FundsId(1000),
        },
        3100,
    );
    f.refused_unchanged(reserve(2, "51"), 3106);

    // More than the liquidity.
    f.refused_unchanged(reserve(4, "400.01"), 4001);
    // Liquidity that backs the net debit position cannot leave.
    ok(f.prepare(10, f.a, f.b, "300"));
    f.refused_unchanged(reserve(5, "100.01"), 4001);
    ok(f.run(reserve(5, "100")));
}

// ----- prepare ----------------------------------------------------------------

#[test]
fn prepare_reserves_on_both_positions() {
    let mut f = Fixture::new();
    let reply = ok(f.prepare(1, f.a, f.b, "100.25"));
    assert_eq!(transfer_state(&reply), (TransferState::Reserved, 0));
    let pa = f.position(f.a);
    assert_eq!((pa.position, pa.reserved), (0, 10025));
    assert_eq!(pa.available, 50_000 - 10025);
    let pb_pc = *f.ledger.participant_currency(f.b, usd()).expect("b");
    let pb = f
        .ledger
        .account(pb_pc.position)
        .expect("b position")
        .balances;
    assert_eq!(pb.credits_pending, 10025);
    let Some(Event::TransferReserved {
        posting,
        payer,
        payee,
        ..
    }) = f.events.first()
    else {
        panic!("{:?}", f.events)
    };
    assert_eq!(
        (*payer, *payee, posting.phase, posting.amount),
        (f.a, f.b, PostingPhase::Pending, 10025)
    );
    let t = f.ledger.transfer(TransferId(1)).expect("recorded");
    assert_eq!(
        (t.state, t.prepared_at_ms, t.expires_at_ms),
        (TransferState::Reserved, T0, EXPIRY)
    );
}

#[test]
fn liquidity_cover_is_checked_first_4001() {
    let mut f = Fixture::new();
    // Liquidity 500, cap 1000: 500.01 breaks liquidity only.
    let err = f.prepare(1, f.a, f.b, "500.01");
    assert_eq!(code(&err), 4001);
    // Both broken: liquidity is reported.
    assert_eq!(code(&f.prepare(2, f.a, f.b, "5000")), 4001);
    // Exactly the cover is fine.
    ok(f.prepare(3, f.a, f.b, "500"));
    assert_eq!(f.position(f.a).available, 0);
    assert_eq!(code(&f.prepare(4, f.a, f.b, "0.01")), 4001);
}

#[test]
fn net_debit_cap_4200() {
    let mut f = Fixture::new();
    ok(f.run(Command::SetNetDebitCap {
        participant: f.a,
        currency: usd(),
        net_debit_cap: d("100"),
    }));
    assert_eq!(code(&f.prepare(1, f.a, f.b, "100.01")), 4200);
    ok(f.prepare(2, f.a, f.b, "60"));
    // position + reserved + amount: 60 reserved + 40.01 > 100.
    assert_eq!(code(&f.prepare(3, f.a, f.b, "40.01")), 4200);
    ok(f.commit(2, T0 + 1));
    // Now 60 is position: 60 + 40.01 > 100 still.
    assert_eq!(code(&f.prepare(4, f.a, f.b, "40.01")), 4200);
    ok(f.prepare(5, f.a, f.b, "40"));
    // A zero cap blocks every payment.
    assert_eq!(code(&f.prepare(6, f.c, f.a, "0.01")), 4001);
    ok(f.run(Command::FundsIn {
        funds_id: FundsId(9),
        participant: f.c,
        currency: usd(),
        amount: d("10"),
    }));
    assert_eq!(code(&f.prepare(7, f.c, f.a, "0.01")), 4200);
}

#[test]
fn received_funds_reduce_the_position() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.b, f.a, "200"));
    ok(f.commit(1, T0 + 1));
    assert_eq!(f.position(f.a).position, -20_000);
    // a can now send its 500 liquidity plus what it received.
    ok(f.prepare(2, f.a, f.b, "700"));
    assert_eq!(code(&f.prepare(3, f.a, f.b, "0.01")), 4001);
}

#[test]
fn refused_prepare_is_recorded_and_replayed() {
    let mut f = Fixture::new();
    let first = f.prepare(1, f.a, f.b, "600");
    assert_eq!(code(&first), 4001);
    assert!(matches!(
        f.events.as_slice(),
        [Event::TransferRefused { reason: 4001, .. }]
    ));
    assert_eq!(
        f.ledger.transfer(TransferId(1)).map(|t| t.state),
        Some(TransferState::Refused)
    );
    // Even after liquidity arrives, the retry gets the recorded answer.
    ok(f.run(Command::FundsIn {
        funds_id: FundsId(5),
        participant: f.a,
        currency: usd(),
        amount: d("1000"),
    }));
    let retry = f.prepare(1, f.a, f.b, "600");
    assert!(retry.duplicate);
    assert_eq!(retry.result, first.result);
    assert!(f.events.is_empty());
    f.refused_unchanged(prepare_cmd(1, f.a, f.b, "601"), 3106);
    f.refused_unchanged(
        Command::Commit {
            transfer_id: TransferId(1),
            fulfilment: fulfilment(1),
            now_ms: T0,
        },
        3100,
    );
}

#[test]
fn duplicate_prepare_returns_the_current_state_and_modified_is_3106() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "10"));
    let dup = f.prepare(1, f.a, f.b, "10.00");
    assert!(dup.duplicate);
    assert_eq!(transfer_state(&ok(dup)), (TransferState::Reserved, 0));
    assert_eq!(f.position(f.a).reserved, 1000, "reserved once");
    ok(f.commit(1, T0 + 5));
    let dup = f.prepare(1, f.a, f.b, "10");
    assert_eq!(transfer_state(&ok(dup)), (TransferState::Committed, 0));
    // Every field counts.
    let base = prepare_cmd(1, f.a, f.b, "10");
    let mut variants = Vec::new();
    if let Command::Prepare {
        transfer_id,
        payer,
        payee,
        currency,
        amount,
        condition,
        expires_at_ms,
        now_ms,
    } = base
    {
        variants.push(Command::Prepare {
            transfer_id,
            payer: f.c,
            payee,
            currency,
            amount,
            condition,
            expires_at_ms,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee: f.c,
            currency,
            amount,
            condition,
            expires_at_ms,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency: ugx(),
            amount,
            condition,
            expires_at_ms,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount: d("11"),
            condition,
            expires_at_ms,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount,
            condition: [9; 32],
            expires_at_ms,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount,
            condition,
            expires_at_ms: expires_at_ms + 1,
            now_ms,
        });
        variants.push(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount: d("10.001"),
            condition,
            expires_at_ms,
            now_ms,
        });
    }
    for v in variants {
        f.refused_unchanged(v, 3106);
    }
}

#[test]
fn participants_must_exist_and_be_active() {
    let mut f = Fixture::new();
    f.refused_unchanged(prepare_cmd(1, ParticipantId(42), f.b, "1"), 3202);
    f.refused_unchanged(prepare_cmd(1, f.a, ParticipantId(42), "1"), 3201);
    assert!(
        f.ledger.transfer(TransferId(1)).is_none(),
        "malformed requests are not recorded"
    );

    ok(f.run(Command::SetParticipantActive {
        participant: f.a,
        active: false,
    }));
    assert_eq!(code(&f.prepare(2, f.a, f.b, "1")), 3202);
    assert_eq!(code(&f.prepare(3, f.b, f.a, "1")), 3201);
    ok(f.run(Command::SetParticipantActive {
        participant: f.a,
        active: true,
    }));
    ok(f.prepare(4, f.a, f.b, "1"));
    ok(f.prepare(5, f.b, f.a, "1"));
}

#[test]
fn a_deactivated_account_stops_its_participants_transfers_and_funds_in_its_currency() {
    let mut f = Fixture::new();
    let a = f.a;
    let set = move |kind, active| Command::SetAccountActive {
        participant: a,
        currency: usd(),
        kind,
        active,
    };
    // Only a participant's own accounts, in a currency it holds.
    f.refused_unchanged(set(AccountType::HubReconciliation, false), 3100);
    f.refused_unchanged(
        Command::SetAccountActive {
            participant: ParticipantId(42),
            currency: usd(),
            kind: AccountType::Position,
            active: false,
        },
        3200,
    );
    assert!(
        f.run(set(AccountType::Position, true)).duplicate,
        "already active"
    );
    let pc = *f.ledger.participant_currency(f.a, usd()).expect("accounts");
    for kind in [AccountType::Position, AccountType::Settlement] {
        ok(f.run(set(kind, false)));
        let account = if kind == AccountType::Position {
            pc.position
        } else {
            pc.settlement
        };
        assert!(!f.ledger.account(account).expect("account").active);
        // Neither sending nor receiving in the currency.
        assert_eq!(code(&f.prepare(10, f.a, f.b, "1")), 3202, "{kind:?}");
        assert_eq!(code(&f.prepare(11, f.b, f.a, "1")), 3201, "{kind:?}");
        ok(f.run(set(kind, true)));
    }
    // No funds on an inactive SETTLEMENT account.
    ok(f.run(set(AccountType::Settlement, false)));
    f.refused_unchanged(
        Command::FundsIn {
            funds_id: FundsId(70),
            participant: f.a,
            currency: usd(),
            amount: d("1"),
        },
        3100,
    );
    ok(f.run(set(AccountType::Settlement, true)));
    ok(f.prepare(12, f.a, f.b, "1"));
    ok(f.prepare(13, f.b, f.a, "1"));
}

#[test]
fn both_sides_need_accounts_in_the_currency() {
    let mut f = Fixture::new();
    let ugx_prepare = |payer, payee| Command::Prepare {
        transfer_id: TransferId(1),
        payer,
        payee,
        currency: ugx(),
        amount: d("1000"),
        condition: [1; 32],
        expires_at_ms: EXPIRY,
        now_ms: T0,
    };
    f.refused_unchanged(ugx_prepare(f.a, f.b), 4103);
    ok(f.run(Command::OpenAccounts {
        participant: f.a,
        currency: ugx(),
        net_debit_cap: d("5000"),
    }));
    f.refused_unchanged(ugx_prepare(f.a, f.b), 5106);
}

#[test]
fn malformed_prepares_change_nothing() {
    let mut f = Fixture::new();
    f.refused_unchanged(prepare_cmd(1, f.a, f.a, "1"), 3100);
    for bad in ["0", "0.00", "-5", "1.001", "1000000000000000000"] {
        f.refused_unchanged(prepare_cmd(1, f.a, f.b, bad), 3100);
    }
    let kes = Currency::parse("KES").expect("KES");
    let (a, b) = (f.a, f.b);
    let mut with = |currency, expires_at_ms| {
        if let Command::Prepare {
            transfer_id,
            payer,
            payee,
            amount,
            condition,
            now_ms,
            ..
        } = prepare_cmd(1, a, b, "1")
        {
            f.refused_unchanged(
                Command::Prepare {
                    transfer_id,
                    payer,
                    payee,
                    currency,
                    amount,
                    condition,
                    expires_at_ms,
                    now_ms,
                },
                3100,
            );
        }
    };
    with(kes, EXPIRY);
    with(usd(), T0);
    with(usd(), T0 - 1);
    assert_eq!(f.ledger.transfer_count(), 0);
}

// ----- commit, abort, expire ---------------------------------------------------

#[test]
fn commit_with_the_right_fulfilment_posts() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "75"));
    let reply = ok(f.commit(1, T0 + 10));
    assert_eq!(transfer_state(&reply), (TransferState::Committed, 0));
    let (pa, pb) = (f.position(f.a), f.position(f.b));
    assert_eq!((pa.position, pa.reserved), (7500, 0));
    assert_eq!((pb.position, pb.reserved), (-7500, 0));
    assert!(matches!(
        f.events.as_slice(),
        [Event::TransferCommitted {
            posting: Posting {
                phase: PostingPhase::PostPending,
                amount: 7500,
                ..
            },
            ..
        }]
    ));
    let t = f.ledger.transfer(TransferId(1)).expect("t");
    assert_eq!(
        (t.resolved_at_ms, t.resolution),
        (T0 + 10, Some(Resolution::Fulfil(fulfilment(1))))
    );

    let again = f.commit(1, T0 + 20);
    assert!(again.duplicate);
    assert_eq!(transfer_state(&ok(again)), (TransferState::Committed, 0));
    assert_eq!(f.position(f.a).position, 7500, "committed once");
    f.refused_unchanged(
        Command::Commit {
            transfer_id: TransferId(1),
            fulfilment: fulfilment(2),
            now_ms: T0 + 20,
        },
        3106,
    );
    f.refused_unchanged(
        Command::Abort {
            transfer_id: TransferId(1),
            reason: 5104,
            now_ms: T0 + 20,
        },
        3106,
    );
    f.refused_unchanged(
        Command::Expire {
            transfer_id: TransferId(1),
            now_ms: EXPIRY + 1,
        },
        3100,
    );
}

#[test]
fn wrong_fulfilment_aborts_with_3100() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "75"));
    let bad = Command::Commit {
        transfer_id: TransferId(1),
        fulfilment: fulfilment(2),
        now_ms: T0 + 1,
    };
    let reply = ok(f.run(bad.clone()));
    assert_eq!(transfer_state(&reply), (TransferState::Aborted, 3100));
    assert_eq!(f.position(f.a).reserved, 0, "released");
    assert_eq!(f.position(f.a).position, 0);
    let retry = f.run(bad);
    assert!(retry.duplicate);
    assert_eq!(transfer_state(&ok(retry)), (TransferState::Aborted, 3100));
    // The right fulfilment is now too late.
    f.refused_unchanged(
        Command::Commit {
            transfer_id: TransferId(1),
            fulfilment: fulfilment(1),
            now_ms: T0 + 2,
        },
        3106,
    );
}

#[test]
fn ilp_reference_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/ilp/condition-fulfilment-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("shared/reference beside the repository");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let hex32 = |s: &str| -> [u8; 32] {
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect();
        bytes.try_into().expect("32 bytes")
    };
    let mut f = Fixture::new();
    let mut id = 100u128;
    for pair in v["valid_pairs"].as_array().expect("valid_pairs") {
        id += 1;
        let condition = hex32(pair["condition_hex"].as_str().expect("condition_hex"));
        let fulfilment = hex32(pair["fulfilment_hex"].as_str().expect("fulfilment_hex"));
        ok(f.run(Command::Prepare {
            transfer_id: TransferId(id),
            payer: f.a,
            payee: f.b,
            currency: usd(),
            amount: d("1"),
            condition,
            expires_at_ms: EXPIRY,
            now_ms: T0,
        }));
        let reply = ok(f.run(Command::Commit {
            transfer_id: TransferId(id),
            fulfilment,
            now_ms: T0 + 1,
        }));
        assert_eq!(
            transfer_state(&reply),
            (TransferState::Committed, 0),
            "{pair}"
        );
    }
    let negatives = v["negative_vectors"].as_array().expect("negative_vectors");
    let mut checked = 0;
    for n in negatives {
        let (Some(cond_b64), Some(ful_b64)) =
            (n["against_condition"].as_str(), n["fulfilment"].as_str())
        else {
            continue;
        };
        // Only vectors given as 43-char base64url strings of 32 bytes are
        // transfer-shaped; decode them by hand (the ledger takes raw bytes).
        let (Some(condition), Some(fulfilment)) = (b64url32(cond_b64), b64url32(ful_b64)) else {
            continue;
        };
        id += 1;
        ok(f.run(Command::Prepare {
            transfer_id: TransferId(id),
            payer: f.a,
            payee: f.b,
            currency: usd(),
            amount: d("1"),
            condition,
            expires_at_ms: EXPIRY,
            now_ms: T0,
        }));
        let reply = ok(f.run(Command::Commit {
            transfer_id: TransferId(id),
            fulfilment,
            now_ms: T0 + 1,
        }));
        assert_eq!(
            transfer_state(&reply),
            (TransferState::Aborted, 3100),
            "{n}"
        );
        checked += 1;
    }
    assert!(checked >= 1, "at least one negative vector was exercised");
}

fn b64url32(s: &str) -> Option<[u8; 32]> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if s.len() != 43 {
        return None;
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(32);
    for ch in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == ch)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out.try_into().ok()
}

#[test]
fn commit_at_or_after_expiry_aborts_with_3303() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "75"));
    let reply = ok(f.commit(1, EXPIRY));
    assert_eq!(transfer_state(&reply), (TransferState::Aborted, 3303));
    assert_eq!(f.position(f.a).reserved, 0);
    assert!(matches!(
        f.events.as_slice(),
        [Event::TransferAborted { reason: 3303, .. }]
    ));
}

#[test]
fn payee_rejection_aborts_with_its_code() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "75"));
    let reject = Command::Abort {
        transfer_id: TransferId(1),
        reason: 5104,
        now_ms: T0 + 3,
    };
    assert_eq!(
        transfer_state(&ok(f.run(reject.clone()))),
        (TransferState::Aborted, 5104)
    );
    assert!(f.run(reject).duplicate);
    f.refused_unchanged(
        Command::Abort {
            transfer_id: TransferId(1),
            reason: 5105,
            now_ms: T0 + 3,
        },
        3106,
    );
    f.refused_unchanged(
        Command::Commit {
            transfer_id: TransferId(1),
            fulfilment: fulfilment(1),
            now_ms: T0 + 3,
        },
        3106,
    );
    ok(f.prepare(2, f.a, f.b, "1"));
    for bad in [0, 999, 6000, u16::MAX] {
        f.refused_unchanged(
            Command::Abort {
                transfer_id: TransferId(2),
                reason: bad,
                now_ms: T0,
            },
            3100,
        );
    }
}

#[test]
fn expire_only_after_the_expiration() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "75"));
    f.refused_unchanged(
        Command::Expire {
            transfer_id: TransferId(1),
            now_ms: EXPIRY - 1,
        },
        3100,
    );
    let reply = ok(f.run(Command::Expire {
        transfer_id: TransferId(1),
        now_ms: EXPIRY,
    }));
    assert_eq!(transfer_state(&reply), (TransferState::Aborted, 3303));
    assert!(
        f.run(Command::Expire {
            transfer_id: TransferId(1),
            now_ms: EXPIRY + 9
        })
        .duplicate
    );
    // The payee's late fulfilment learns the outcome; nothing moves.
    let late = f.commit(1, EXPIRY + 10);
    assert!(late.duplicate);
    assert_eq!(transfer_state(&ok(late)), (TransferState::Aborted, 3303));
    f.refused_unchanged(
        Command::Expire {
            transfer_id: TransferId(77),
            now_ms: EXPIRY,
        },
        3208,
    );
    f.refused_unchanged(
        Command::Commit {
            transfer_id: TransferId(77),
            fulfilment: [0; 32],
            now_ms: T0,
        },
        3208,
    );
    f.refused_unchanged(
        Command::Abort {
            transfer_id: TransferId(77),
            reason: 5104,
            now_ms: T0,
        },
        3208,
    );
}

#[test]
fn expire_due_aborts_in_expiration_order_up_to_max() {
    let mut f = Fixture::new();
    for (id, expires) in [(1u128, 300), (2, 100), (3, 200), (4, 400), (5, 150)] {
        let Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount,
            condition,
            now_ms,
            ..
        } = prepare_cmd(id, f.a, f.b, "1")
        else {
            unreachable!()
        };
        ok(f.run(Command::Prepare {
            transfer_id,
            payer,
            payee,
            currency,
            amount,
            condition,
            expires_at_ms: T0 + expires,
            now_ms,
        }));
    }
    ok(f.commit(5, T0 + 10)); // resolved before its expiry: skipped
    assert_eq!(
        ok(f.run(Command::ExpireDue {
            now_ms: T0 + 250,
            max: 1
        })),
        Reply::Expired { count: 1 }
    );
    let aborted = |f: &Fixture| -> Vec<u128> {
        f.events
            .iter()
            .filter_map(|e| match e {
                Event::TransferAborted {
                    transfer_id,
                    reason: 3303,
                    ..
                } => Some(transfer_id.0),
                _ => None,
            })
            .collect()
    };
    assert_eq!(aborted(&f), vec![2]);
    assert_eq!(
        ok(f.run(Command::ExpireDue {
            now_ms: T0 + 250,
            max: 10
        })),
        Reply::Expired { count: 1 }
    );
    assert_eq!(aborted(&f), vec![3]);
    assert_eq!(
        ok(f.run(Command::ExpireDue {
            now_ms: T0 + 250,
            max: 10
        })),
        Reply::Expired { count: 0 }
    );
    assert_eq!(
        ok(f.run(Command::ExpireDue {
            now_ms: T0 + 1000,
            max: 10
        })),
        Reply::Expired { count: 2 }
    );
    assert_eq!(aborted(&f), vec![1, 4]);
    assert_eq!(
        f.ledger.transfer(TransferId(5)).map(|t| t.state),
        Some(TransferState::Committed)
    );
    assert_eq!(f.position(f.a).reserved, 0);
    f.refused_unchanged(
        Command::ExpireDue {
            now_ms: T0,
            max: EXPIRE_DUE_MAX + 1,
        },
        3100,
    );
}

// ----- batches, digest, snapshot -------------------------------------------------

fn sample_commands(f: &Fixture) -> Vec<Command> {
    let mut cmds = Vec::new();
    for i in 1..=20u128 {
        let (payer, payee) = if i % 2 == 0 { (f.a, f.b) } else { (f.b, f.a) };
        cmds.push(prepare_cmd(i, payer, payee, "30"));
    }
    for i in 1..=20u128 {
        match i % 4 {
            0 => cmds.push(Command::Commit {
                transfer_id: TransferId(i),
                fulfilment: fulfilment(i as u64),
                now_ms: T0 + 1,
            }),
            1 => cmds.push(Command::Abort {
                transfer_id: TransferId(i),
                reason: 5104,
                now_ms: T0 + 1,
            }),
            2 => cmds.push(Command::Commit {
                transfer_id: TransferId(i),
                fulfilment: [0; 32],
                now_ms: T0 + 1,
            }),
            _ => {}
        }
    }
    cmds.push(Command::ExpireDue {
        now_ms: EXPIRY,
        max: 100,
    });
    cmds
}

#[test]
fn batch_outcomes_and_events_line_up_with_commands() {
    let mut f = Fixture::new();
    let cmds = sample_commands(&f);
    let mut out = BatchOutput::default();
    f.ledger.apply_batch(&cmds, &mut out);
    assert_eq!(out.outcomes.len(), cmds.len());
    assert!(
        out.events
            .windows(2)
            .all(|w| w[0].command_index <= w[1].command_index)
    );
    // The last command expired the five transfers left reserved.
    assert_eq!(
        out.outcomes.last().map(|o| o.result.clone()),
        Some(Ok(Reply::Expired { count: 5 }))
    );
    let last = (cmds.len() - 1) as u32;
    assert_eq!(
        out.events
            .iter()
            .filter(|e| e.command_index == last)
            .count(),
        5
    );
    f.ledger.check_invariants().expect("invariants");

    // The same batch on a copy of the starting state gives the same everything.
    let mut g = Fixture::new();
    let mut out2 = BatchOutput::default();
    g.ledger.apply_batch(&cmds, &mut out2);
    assert_eq!(out.outcomes, out2.outcomes);
    assert_eq!(out.events, out2.events);
    assert_eq!(f.ledger.digest(), g.ledger.digest());
}

#[test]
fn equal_states_have_equal_digests() {
    let mut f = Fixture::new();
    let mut g = Fixture::new();
    assert_eq!(f.ledger.digest(), g.ledger.digest());
    ok(f.prepare(1, f.a, f.b, "10"));
    ok(f.prepare(2, f.b, f.a, "20"));
    ok(g.prepare(2, g.b, g.a, "20"));
    assert_ne!(f.ledger.digest(), g.ledger.digest());
    ok(g.prepare(1, g.a, g.b, "10"));
    assert_eq!(
        f.ledger.digest(),
        g.ledger.digest(),
        "order of independent prepares does not matter"
    );
    ok(f.commit(1, T0 + 1));
    assert_ne!(f.ledger.digest(), g.ledger.digest());
    // Same commit at another time is another state.
    ok(g.commit(1, T0 + 2));
    assert_ne!(f.ledger.digest(), g.ledger.digest());
}

#[test]
fn snapshot_round_trips_through_json_and_resumes_identically() {
    let mut f = Fixture::new();
    let cmds = sample_commands(&f);
    let (head, tail) = cmds.split_at(25);
    let mut out = BatchOutput::default();
    f.ledger.apply_batch(head, &mut out);
    assert_eq!(code(&f.prepare(99, f.a, f.b, "100000")), 4001); // a recorded refusal

    let json = serde_json::to_string(&f.ledger.snapshot()).expect("serialize");
    let snap: Snapshot = serde_json::from_str(&json).expect("deserialize");
    let mut restored = Ledger::restore(snap).expect("restore");
    assert_eq!(restored.digest(), f.ledger.digest());

    let mut out_live = BatchOutput::default();
    let mut out_restored = BatchOutput::default();
    f.ledger.apply_batch(tail, &mut out_live);
    restored.apply_batch(tail, &mut out_restored);
    assert_eq!(out_live.outcomes, out_restored.outcomes);
    assert_eq!(out_live.events, out_restored.events);
    assert_eq!(restored.digest(), f.ledger.digest());
    // The refusal survived the restore.
    let retry = restored.apply(&prepare_cmd(99, f.a, f.b, "100000"), &mut Vec::new());
    assert!(retry.duplicate);
    assert_eq!(code(&retry), 4001);
}

#[test]
fn restore_rejects_other_versions_and_inconsistent_snapshots() {
    let mut f = Fixture::new();
    ok(f.prepare(1, f.a, f.b, "10"));
    let mut snap = f.ledger.snapshot();
    snap.version = SNAPSHOT_VERSION + 1;
    assert_eq!(
        Ledger::restore(snap).err(),
        Some(SnapshotError::UnsupportedVersion {
            found: SNAPSHOT_VERSION + 1
        })
    );

    let mut snap = f.ledger.snapshot();
    snap.accounts[3].balances.credits_posted += 1;
    assert!(matches!(
        Ledger::restore(snap),
        Err(SnapshotError::Inconsistent(_))
    ));

    let mut snap = f.ledger.snapshot();
    snap.transfers[0].amount += 1; // pending no longer explained
    assert!(matches!(
        Ledger::restore(snap),
        Err(SnapshotError::Inconsistent(_))
    ));

    let mut snap = f.ledger.snapshot();
    snap.participants.swap(0, 1);
    assert!(matches!(
        Ledger::restore(snap),
        Err(SnapshotError::Inconsistent(_))
    ));
}

#[test]
fn every_error_code_is_a_published_fspiop_code() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/fspiop/error-codes.json"
    );
    let text = std::fs::read_to_string(path).expect("shared/reference beside the repository");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let known: Vec<u16> = v["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c["code"].as_str().and_then(|s| s.parse().ok()))
        .collect();
    let tid = TransferId(1);
    let pid = ParticipantId(1);
    let errors = [
        LedgerError::UnknownCurrency("X".into()),
        LedgerError::InvalidAmount {
            amount: d("0"),
            reason: String::new(),
        },
        LedgerError::Validation(String::new()),
        LedgerError::ExpiryInPast {
            expires_at_ms: 0,
            now_ms: 0,
        },
        LedgerError::PayerUnavailable(pid),
        LedgerError::PayeeUnavailable(pid),
        LedgerError::PayerCurrencyUnsupported(pid, String::new()),
        LedgerError::PayeeCurrencyUnsupported(pid, String::new()),
        LedgerError::ParticipantNotFound(pid),
        LedgerError::AccountsNotFound(pid, String::new()),
        LedgerError::InsufficientLiquidity {
            required: 0,
            available: 0,
        },
        LedgerError::NetDebitCapExceeded {
            required: 0,
            cap: 0,
        },
        LedgerError::ModifiedRequest(String::new()),
        LedgerError::TransferNotFound(tid),
        LedgerError::FundsNotFound(FundsId(1)),
        LedgerError::TransferNotReserved {
            id: tid,
            state: TransferState::Committed,
        },
        LedgerError::NotYetExpired {
            id: tid,
            expires_at_ms: 0,
            now_ms: 0,
        },
        LedgerError::FundsNotReserved(FundsId(1)),
        LedgerError::LimitReached(String::new()),
    ];
    for e in errors {
        assert!(
            known.contains(&e.code()),
            "{e:?} maps to {} which is not in error-codes.json",
            e.code()
        );
    }
}

// ----- settlement postings -------------------------------------------------

fn leg(
    debit: SettlementAccount,
    credit: SettlementAccount,
    amount: i128,
    phase: PostingPhase,
) -> SettlementLeg {
    SettlementLeg {
        debit,
        credit,
        amount,
        phase,
    }
}

#[test]
fn settlement_legs_reserve_then_post_and_balance() {
    use SettlementAccount::*;
    let mut f = Fixture::new();
    let a = f.a;
    let settle = |legs: Vec<SettlementLeg>| Command::Settle {
        settlement_id: 7,
        participant: a,
        currency: usd(),
        legs,
    };
    // Reserve 120.00 of bank-a's liquidity towards the hub.
    let reserve = settle(vec![leg(
        Settlement,
        HubMultilateralSettlement,
        12_000,
        PostingPhase::Pending,
    )]);
    let reply = ok(f.run(reserve));
    assert_eq!(
        reply,
        Reply::Settled {
            settlement_id: 7,
            participant: f.a,
            postings: 1
        }
    );
    assert!(matches!(
        f.events[..],
        [Event::SettlementPosted {
            settlement_id: 7,
            ..
        }]
    ));
    let pc = *f.ledger.participant_currency(f.a, usd()).expect("accounts");
    let hub = *f.ledger.hub_currency(usd()).expect("hub");
    assert_eq!(
        f.ledger
            .account(pc.settlement)
            .expect("a")
            .balances
            .debits_pending,
        12_000
    );
    // Post it and bring POSITION back by the same amount, in one command.
    ok(f.run(settle(vec![
        leg(
            Settlement,
            HubMultilateralSettlement,
            12_000,
            PostingPhase::PostPending,
        ),
        leg(
            HubMultilateralSettlement,
            Position,
            12_000,
            PostingPhase::Posted,
        ),
    ])));
    let s = f.ledger.account(pc.settlement).expect("s").balances;
    assert_eq!((s.debits_pending, s.debits_posted), (0, 12_000));
    let p = f.ledger.account(pc.position).expect("p").balances;
    assert_eq!(p.credits_posted, 12_000);
    let h = f
        .ledger
        .account(hub.multilateral_settlement)
        .expect("h")
        .balances;
    assert_eq!(h.debits_posted, h.credits_posted, "the hub nets to zero");
}

#[test]
fn settlement_legs_are_all_or_nothing() {
    use SettlementAccount::*;
    let mut f = Fixture::new();
    let before = f.ledger.digest();
    let settle = |participant, legs: Vec<SettlementLeg>| Command::Settle {
        settlement_id: 1,
        participant,
        currency: usd(),
        legs,
    };
    let cases = [
        // Posting more than is pending (nothing is).
        settle(
            f.a,
            vec![leg(
                Settlement,
                HubMultilateralSettlement,
                100,
                PostingPhase::PostPending,
            )],
        ),
        // The first leg is fine, the second voids more than the first reserved.
        settle(
            f.a,
            vec![
                leg(
                    Settlement,
                    HubMultilateralSettlement,
                    100,
                    PostingPhase::Pending,
                ),
                leg(
                    Settlement,
                    HubMultilateralSettlement,
                    101,
                    PostingPhase::VoidPending,
                ),
            ],
        ),
        // A non-positive amount; one account on both sides.
        settle(
            f.a,
            vec![leg(
                Position,
                HubMultilateralSettlement,
                0,
                PostingPhase::Posted,
            )],
        ),
        settle(f.a, vec![leg(Position, Position, 10, PostingPhase::Posted)]),
        // Too many legs.
        settle(
            f.a,
            vec![leg(Position, HubMultilateralSettlement, 1, PostingPhase::Posted); 17],
        ),
        // No accounts in the currency; unknown participant.
        Command::Settle {
            settlement_id: 1,
            participant: f.a,
            currency: ugx(),
            legs: vec![leg(
                Position,
                HubMultilateralSettlement,
                1,
                PostingPhase::Posted,
            )],
        },
        settle(
            ParticipantId(99),
            vec![leg(
                Position,
                HubMultilateralSettlement,
                1,
                PostingPhase::Posted,
            )],
        ),
    ];
    for cmd in cases {
        let outcome = f.run(cmd.clone());
        assert!(outcome.result.is_err(), "{cmd:?} was accepted");
        assert!(f.events.is_empty(), "{cmd:?} emitted events");
        assert_eq!(f.ledger.digest(), before, "{cmd:?} changed the ledger");
    }
}

// ----- immediate gross settlement -------------------------------------------

#[test]
fn a_gross_transfer_moves_settlement_accounts_and_leaves_positions_alone() {
    let mut f = Fixture::new();
    let gross = |participant, gross| Command::SetSettlementModel {
        participant,
        currency: usd(),
        gross,
    };
    assert_eq!(
        ok(f.run(gross(f.b, true))),
        Reply::SettlementModel {
            participant: f.b,
            currency: usd(),
            gross: true
        }
    );
    assert!(matches!(
        f.events[..],
        [Event::SettlementModelSet { gross: true, .. }]
    ));
    assert!(
        f.run(gross(f.b, true)).duplicate,
        "the same model again changes nothing"
    );
    let unknown = f.run(Command::SetSettlementModel {
        participant: f.a,
        currency: ugx(),
        gross: true,
    });
    assert!(unknown.result.is_err(), "no accounts in UGX");

    // a -> b, b is gross: at prepare a's liquidity is held, not its position.
    let before_a = f.position(f.a);
    ok(f.prepare(1, f.a, f.b, "100"));
    let reserved = f.position(f.a);
    assert_eq!(reserved.position, before_a.position);
    assert_eq!(reserved.reserved, before_a.reserved);
    assert_eq!(reserved.liquidity, before_a.liquidity - 10_000);
    ok(f.commit(1, T0 + 1));
    let (a, b) = (f.position(f.a), f.position(f.b));
    assert_eq!(a.position, before_a.position, "positions untouched");
    assert_eq!(b.position, 0);
    assert_eq!(a.liquidity, 50_000 - 10_000, "settled at commit");
    assert_eq!(b.liquidity, 50_000 + 10_000);
    assert!(matches!(
        f.events[..],
        [Event::TransferCommitted {
            posting: Posting {
                phase: PostingPhase::PostPending,
                ..
            },
            ..
        }]
    ));
    let pc = *f.ledger.participant_currency(f.a, usd()).expect("a");
    match &f.events[0] {
        Event::TransferCommitted { posting, .. } => assert_eq!(posting.debit, pc.settlement),
        other => panic!("{other:?}"),
    }

    // Liquidity, not the net debit cap, limits a gross transfer: wallet-c
    // (cap 0, no liquidity) cannot pay gross; with liquidity it can, cap 0
    // notwithstanding.
    ok(f.run(gross(f.c, true)));
    let refused = f.prepare(2, f.c, f.a, "1");
    assert_eq!(refused.result.map_err(|e| e.code()), Err(4001));
    ok(f.run(Command::FundsIn {
        funds_id: FundsId(9),
        participant: f.c,
        currency: usd(),
        amount: d("5"),
    }));
    ok(f.prepare(3, f.c, f.a, "5"));
    // An abort voids the held liquidity.
    ok(f.run(Command::Abort {
        transfer_id: TransferId(3),
        reason: 5104,
        now_ms: T0 + 2,
    }));
    assert_eq!(f.position(f.c).liquidity, 500);
    // A snapshot keeps the models and the gross flag of transfers.
    let restored = Ledger::restore(f.ledger.snapshot()).expect("restore");
    assert_eq!(restored.digest(), f.ledger.digest());
    // Back on net settlement: positions move again.
    ok(f.run(gross(f.b, false)));
    ok(f.prepare(4, f.a, f.b, "1"));
    assert_eq!(f.position(f.a).reserved, 100);
}

#[test]
fn a_currency_kept_at_four_decimals_moves_amounts_of_up_to_four() {
    let mut f = Fixture::with_usd_scale(Some(4));
    assert_eq!(f.ledger.scale_of(usd()), 4);
    let (a, b) = (f.a, f.b);
    let payer_before = f.position(a);
    ok(f.prepare(1, a, b, "60.1234"));
    ok(f.commit(1, 2));
    let payer = f.position(a);
    assert_eq!(payer.position - payer_before.position, 601_234);
    assert_eq!(f.ledger.decimal(usd(), 601_234).to_string(), "60.1234");
    // The deposit of 500 shows with the ISO decimals.
    assert_eq!(f.ledger.decimal(usd(), 5_000_000).to_string(), "500.00");
    // A fifth decimal is refused and changes nothing.
    f.refused_unchanged(prepare_cmd(2, a, b, "1.00001"), 3100);
    // In a currency kept at its ISO unit, a third decimal is still refused.
    let mut cents = Fixture::new();
    let (a, b) = (cents.a, cents.b);
    cents.refused_unchanged(prepare_cmd(3, a, b, "60.1234"), 3100);
}

#[test]
fn a_currency_cannot_be_kept_coarser_than_its_iso_unit_or_finer_than_the_limit() {
    let mut ledger = Ledger::new();
    let mut events = Vec::new();
    let kwd = Currency::parse("KWD").expect("KWD");
    for scale in [2, 9] {
        let out = ledger.apply(
            &Command::EnableCurrency {
                currency: kwd,
                scale: Some(scale),
            },
            &mut events,
        );
        assert_eq!(
            out.result.map_err(|e| e.code()).err(),
            Some(3100),
            "{scale}"
        );
        assert!(ledger.hub_currency(kwd).is_none());
    }
    assert!(events.is_empty());
    ok(ledger.apply(
        &Command::EnableCurrency {
            currency: kwd,
            scale: Some(3),
        },
        &mut events,
    ));
    assert_eq!(ledger.scale_of(kwd), 3);
}
