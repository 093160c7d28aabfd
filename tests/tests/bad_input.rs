//! Bad input of every field is answered with the right code and changes
//! nothing: the ledger digest and the log position are the same after.

use harambee_proto::v1::*;
use harambee_tests::*;

struct Case {
    what: &'static str,
    code: u16,
    edit: fn(&mut PrepareTransferRequest),
}

const PREPARE_CASES: &[Case] = &[
    Case {
        what: "empty transfer id",
        code: 3102,
        edit: |r| r.transfer_id.clear(),
    },
    Case {
        what: "malformed transfer id",
        code: 3100,
        edit: |r| r.transfer_id = "not-a-uuid".into(),
    },
    Case {
        what: "upper-case transfer id",
        code: 3100,
        edit: |r| r.transfer_id = r.transfer_id.to_uppercase(),
    },
    Case {
        what: "malformed payee",
        code: 3100,
        edit: |r| r.payee_fsp = "Bank B".into(),
    },
    Case {
        what: "unknown payee",
        code: 3201,
        edit: |r| r.payee_fsp = "bank-z".into(),
    },
    Case {
        what: "missing amount",
        code: 3102,
        edit: |r| r.amount = None,
    },
    Case {
        what: "too many decimals",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "10.00001".into(),
                currency: CURRENCY.into(),
            })
        },
    },
    Case {
        what: "negative amount",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "-10".into(),
                currency: CURRENCY.into(),
            })
        },
    },
    Case {
        what: "zero amount",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "0".into(),
                currency: CURRENCY.into(),
            })
        },
    },
    Case {
        what: "exponent amount",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "1e3".into(),
                currency: CURRENCY.into(),
            })
        },
    },
    Case {
        what: "too large amount",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "1234567890123456789".into(),
                currency: CURRENCY.into(),
            })
        },
    },
    Case {
        what: "unknown currency",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "10".into(),
                currency: "XYZ".into(),
            })
        },
    },
    Case {
        what: "currency not enabled",
        code: 3100,
        edit: |r| {
            r.amount = Some(Money {
                amount: "10".into(),
                currency: "USD".into(),
            })
        },
    },
    Case {
        what: "short condition",
        code: 3100,
        edit: |r| r.condition = "abc".into(),
    },
    Case {
        what: "condition with padding",
        code: 3100,
        edit: |r| r.condition.push('='),
    },
    Case {
        what: "condition in base64 not base64url",
        code: 3100,
        edit: |r| r.condition = "GRzLaTP7DJ9t4P+a/BA0WA9wzzlsugf00+Tn6kESAfM".into(),
    },
    Case {
        what: "missing condition",
        code: 3102,
        edit: |r| r.condition.clear(),
    },
    Case {
        what: "missing ILP packet",
        code: 3102,
        edit: |r| r.ilp_packet.clear(),
    },
    Case {
        what: "missing expiration",
        code: 3102,
        edit: |r| r.expiration = None,
    },
    Case {
        what: "expiration in the past",
        code: 3100,
        edit: |r| r.expiration = Some(timestamp(now_ms() - 1_000)),
    },
    Case {
        what: "malformed quote id",
        code: 3100,
        edit: |r| r.quote_id = "q-1".into(),
    },
    Case {
        what: "oversize ILP packet",
        code: 3104,
        edit: |r| r.ilp_packet = "A".repeat(40_000),
    },
];

#[tokio::test]
async fn every_bad_prepare_field_gets_its_code_and_changes_nothing() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let before = s.digest().await;
    for case in PREPARE_CASES {
        let mut r = prepare_request(&q, 30_000);
        (case.edit)(&mut r);
        let err = a.api.prepare_transfer(r).await.expect_err(case.what);
        assert_eq!(code(&err), case.code, "{}: {}", case.what, err.message());
    }
    let after = s.digest().await;
    assert_eq!(
        after.digest, before.digest,
        "no bad request changed the ledger"
    );
    assert_eq!(
        a.dfsp
            .stats
            .transfers_fulfilled
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        b.dfsp
            .stats
            .transfers_fulfilled
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no bad request reached the payee"
    );
    // And the good request still works.
    let t = a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("valid")
        .into_inner();
    assert_eq!(t.state, TransferState::Committed as i32);
}

#[tokio::test]
async fn oversize_messages_are_refused() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let q = quote(&mut a, &b, "100").await;
    let before = s.digest().await;
    let mut r = prepare_request(&q, 30_000);
    r.extensions = (0..2_000)
        .map(|i| ExtensionItem {
            key: format!("k{i}"),
            value: "v".repeat(100),
        })
        .collect();
    let err = a.api.prepare_transfer(r).await.expect_err("oversize");
    // gRPC refuses it before the switch sees it: OUT_OF_RANGE, read as 3104.
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    assert_eq!(code(&err), 3104);
    assert_eq!(s.digest().await.digest, before.digest);
}

#[tokio::test]
async fn bad_quote_fields_are_refused() {
    let mut s = TestSwitch::start().await;
    let mut a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    type Edit = Box<dyn Fn(&mut QuoteRequest)>;
    let cases: Vec<(&str, u16, Edit)> = vec![
        (
            "malformed quote id",
            3100,
            Box::new(|r| r.quote_id = "x".into()),
        ),
        (
            "malformed transaction id",
            3100,
            Box::new(|r| r.transaction_id = "x".into()),
        ),
        ("no payee", 3102, Box::new(|r| r.payee = None)),
        (
            "unknown payee",
            3201,
            Box::new(|r| r.payee.as_mut().expect("payee").fsp_id = "bank-z".into()),
        ),
        ("no amount type", 3100, Box::new(|r| r.amount_type = 0)),
        (
            "too many decimals",
            3100,
            Box::new(|r| {
                r.amount = Some(Money {
                    amount: "1.23456".into(),
                    currency: CURRENCY.into(),
                })
            }),
        ),
        (
            "negative amount",
            3100,
            Box::new(|r| {
                r.amount = Some(Money {
                    amount: "-1".into(),
                    currency: CURRENCY.into(),
                })
            }),
        ),
        (
            "unknown currency",
            3100,
            Box::new(|r| {
                r.amount = Some(Money {
                    amount: "1".into(),
                    currency: "ABC".into(),
                })
            }),
        ),
        (
            "expired",
            3100,
            Box::new(|r| r.expiration = Some(timestamp(now_ms() - 1))),
        ),
        (
            "bad party type",
            3100,
            Box::new(|r| {
                r.payee
                    .as_mut()
                    .expect("payee")
                    .identifier
                    .as_mut()
                    .expect("id")
                    .r#type = 99
            }),
        ),
        (
            "bad MSISDN",
            3100,
            Box::new(|r| {
                r.payee
                    .as_mut()
                    .expect("payee")
                    .identifier
                    .as_mut()
                    .expect("id")
                    .id = "+2547".into()
            }),
        ),
    ];
    let before = s.digest().await;
    for (what, expected, edit) in cases {
        let mut r = quote_request(&a, &b, "10");
        edit(&mut r);
        let err = a.api.request_quote(r).await.expect_err(what);
        assert_eq!(code(&err), expected, "{what}: {}", err.message());
    }
    assert_eq!(
        s.digest().await.log_offset,
        before.log_offset,
        "nothing was logged"
    );
    assert_eq!(
        b.dfsp
            .stats
            .quotes
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no bad quote reached the payee"
    );
}
