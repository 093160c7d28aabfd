// The fuzz driver of the participant API's requests, shared by
// `examples/fuzz_requests.rs` (the long run) and `tests/fuzz_requests.rs`
// (a short run in every test run). Included with `#[path]`; not a test
// target of its own.
//
// Every request the participant API takes, as protobuf bytes (valid
// requests mutated, and random bytes), is decoded as the server decodes
// it and checked by the same functions the edge and the service layer run
// before anything is recorded: `prepare_of`, `answer_of`,
// `quotes::checked_request`, `validate::*`. A checked prepare becomes the
// ledger command it would be, and that command must go through the log's
// record format and back unchanged. A panic is the failure.

use harambee_core::record::{LedgerCommand, LogRecord, ParticipantRef};
use harambee_grpc::participant_api::{answer_of, prepare_of};
use harambee_proto::v1::*;
use harambee_proto::validate;
use harambee_service::quotes::checked_request;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[path = "mutate.rs"]
mod mutate;

/// How many inputs of each request were tried, decoded and valid.
#[derive(Debug, Default)]
pub struct Tally {
    pub tried: u64,
    pub decoded: u64,
    pub valid: u64,
}

const KINDS: usize = 9;

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "KES".into(),
    })
}

fn party() -> Option<PartyIdentifier> {
    Some(PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id: "254700000001".into(),
        sub_id: String::new(),
    })
}

/// Valid requests of each kind, encoded.
fn corpus() -> Vec<Vec<u8>> {
    let id = "8f14e45f-ceea-467f-a8f5-6a1e1a2b3c4d".to_string();
    let ts = Some(prost_types::Timestamp {
        seconds: 1_796_206_500,
        nanos: 0,
    });
    vec![
        LookupPartyRequest {
            party: party(),
            currency: "KES".into(),
        }
        .encode_to_vec(),
        RegisterPartyRequest { party: party() }.encode_to_vec(),
        QuoteRequest {
            quote_id: id.clone(),
            transaction_id: id.clone(),
            payee: Some(Party {
                identifier: party(),
                fsp_id: "wallet-b".into(),
                ..Party::default()
            }),
            amount_type: AmountType::Send as i32,
            amount: money("10.50"),
            note: "rent".into(),
            expiration: ts,
            ..QuoteRequest::default()
        }
        .encode_to_vec(),
        PrepareTransferRequest {
            transfer_id: id.clone(),
            payee_fsp: "wallet-b".into(),
            amount: money("10.50"),
            ilp_packet: "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3BhLnVzZXIuMTIzNDU2".into(),
            condition: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into(),
            expiration: ts,
            quote_id: id.clone(),
            transaction_id: id.clone(),
            ..PrepareTransferRequest::default()
        }
        .encode_to_vec(),
        FulfilTransferRequest {
            transfer_id: id.clone(),
            result: Some(fulfil_transfer_request::Result::Fulfilment(Fulfilment {
                fulfilment: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into(),
                ..Fulfilment::default()
            })),
        }
        .encode_to_vec(),
        GetTransferRequest {
            transfer_id: id.clone(),
        }
        .encode_to_vec(),
        GetQuoteRequest { quote_id: id }.encode_to_vec(),
        DeregisterPartyRequest { party: party() }.encode_to_vec(),
        NotificationsRequest { from_sequence: 42 }.encode_to_vec(),
    ]
}

fn input(rng: &mut StdRng, valid: &[u8], out: &mut Vec<u8>) {
    mutate::input(rng, valid, out, 1..5);
}

/// Decodes and checks one input as request kind `kind`: whether it decoded
/// and whether it was valid.
fn check(kind: usize, bytes: &[u8]) -> (bool, bool) {
    match kind {
        0 => match LookupPartyRequest::decode(bytes) {
            Ok(r) => (true, validate::party("party", r.party.as_ref()).is_ok()),
            Err(_) => (false, false),
        },
        1 => match RegisterPartyRequest::decode(bytes) {
            Ok(r) => (true, validate::party("party", r.party.as_ref()).is_ok()),
            Err(_) => (false, false),
        },
        2 => match QuoteRequest::decode(bytes) {
            Ok(mut r) => (true, checked_request("bank-a", &mut r).is_ok()),
            Err(_) => (false, false),
        },
        3 => match PrepareTransferRequest::decode(bytes) {
            Ok(r) => match prepare_of(r) {
                Ok(p) => {
                    // The ledger command it would be, through the log's
                    // record format and back.
                    let record = LogRecord::Ledger(LedgerCommand::Prepare {
                        transfer_id: p.transfer_id,
                        payer: ParticipantRef::name("bank-a"),
                        payee: ParticipantRef::name(p.payee.as_str()),
                        currency: p.currency,
                        amount: p.amount,
                        condition: p.condition,
                        expires_at_ms: p.expires_at_ms,
                        now_ms: 1_796_206_500_000,
                        terms: p.terms,
                    });
                    let text = record.encode().expect("a checked prepare encodes");
                    let back = LogRecord::decode(&text).expect("and decodes");
                    assert_eq!(back, record, "{text}");
                    (true, true)
                }
                Err(_) => (true, false),
            },
            Err(_) => (false, false),
        },
        4 => match FulfilTransferRequest::decode(bytes) {
            Ok(r) => (true, answer_of(r).is_ok()),
            Err(_) => (false, false),
        },
        5 => match GetTransferRequest::decode(bytes) {
            Ok(r) => (true, validate::uuid("transfer_id", &r.transfer_id).is_ok()),
            Err(_) => (false, false),
        },
        6 => match GetQuoteRequest::decode(bytes) {
            Ok(r) => (true, validate::uuid("quote_id", &r.quote_id).is_ok()),
            Err(_) => (false, false),
        },
        7 => match DeregisterPartyRequest::decode(bytes) {
            Ok(r) => (true, validate::party("party", r.party.as_ref()).is_ok()),
            Err(_) => (false, false),
        },
        // Any sequence is valid: the stream starts there (or at the
        // first notification, past the last).
        _ => match NotificationsRequest::decode(bytes) {
            Ok(_) => (true, true),
            Err(_) => (false, false),
        },
    }
}

/// Tries `count` inputs, the request kinds in turn.
pub fn run(seed: u64, count: u64) -> [Tally; KINDS] {
    let mut rng = StdRng::seed_from_u64(seed);
    let corpus = corpus();
    let mut tally: [Tally; KINDS] = Default::default();
    let mut buf = Vec::with_capacity(512);
    for i in 0..count {
        let kind = (i % KINDS as u64) as usize;
        input(&mut rng, &corpus[kind], &mut buf);
        let (decoded, valid) = check(kind, &buf);
        let t = &mut tally[kind];
        t.tried += 1;
        t.decoded += u64::from(decoded);
        t.valid += u64::from(valid);
    }
    tally
}
