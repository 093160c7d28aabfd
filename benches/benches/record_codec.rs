//! The cost of the log record format on the hot path: a payment writes a
//! quote record and a prepare and a commit record, and every reader (the
//! follower, the read side, recovery) decodes them again.
//!
//! Measured: encoding and decoding format 2 (the current one) for a
//! prepare, a commit and a recorded quote with a 592-byte payee answer,
//! and decoding a format-1 prepare (what an old log costs to read).
//!
//! Run: `cargo bench -p harambee-benches --bench record_codec`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harambee_benches::usd;
use harambee_core::record::{
    DirectoryCommand, LedgerCommand, LogRecord, ParticipantRef, PrepareTerms, QuoteRecord,
};
use harambee_ledger::TransferId;
use rust_decimal::Decimal;

/// A format-1 prepare, as the first builds wrote it.
const V1_PREPARE: &str = r#"{"v":1,"record":{"Ledger":{"Prepare":{"transfer_id":45370289949877626058777752618873651201,"payer":1,"payee":2,"currency":"USD","amount":"10.50","condition":[114,205,110,132,34,196,7,251,109,9,134,144,241,19,11,125,237,126,194,247,245,225,211,11,217,213,33,240,21,54,55,147],"expires_at_ms":1764547230000,"now_ms":1764547200002}}}}"#;

fn records() -> [(&'static str, LogRecord); 3] {
    let prepare = LogRecord::Ledger(LedgerCommand::Prepare {
        transfer_id: TransferId(0x2222_0000_0000_4000_8000_0000_0000_0001),
        payer: ParticipantRef::name("bank-a"),
        payee: ParticipantRef::name("wallet-b"),
        currency: usd(),
        amount: Decimal::new(1050, 2),
        condition: [0x72; 32],
        expires_at_ms: 1_764_547_230_000,
        now_ms: 1_764_547_200_002,
        terms: PrepareTerms {
            ilp_packet: "A".repeat(600),
            quote_id: "7c23e80c-d078-4077-8263-2c047876fcf6".into(),
            transaction_id: "4b2a4a27-7f5e-4b5c-9d9e-1c7f2f6e2a10".into(),
            extensions: vec![],
        },
    });
    let commit = LogRecord::Ledger(LedgerCommand::Commit {
        transfer_id: TransferId(0x2222_0000_0000_4000_8000_0000_0000_0001),
        fulfilment: [0x01; 32],
        now_ms: 1_764_547_200_003,
    });
    let quote = LogRecord::Directory(DirectoryCommand::RecordQuote(QuoteRecord {
        quote_id: "7c23e80c-d078-4077-8263-2c047876fcf6".into(),
        payer: "bank-a".into(),
        payee: "wallet-b".into(),
        request_sha256: [0x33; 32],
        response: vec![0x5a; 592],
        expires_at_ms: 1_764_547_260_000,
        recorded_at_ms: 1_764_547_200_001,
    }));
    [("prepare", prepare), ("commit", commit), ("quote", quote)]
}

fn record_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_codec");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    for (name, record) in records() {
        let text = record.encode().expect("encodes");
        group.bench_function(format!("encode_v2_{name}"), |b| {
            b.iter(|| black_box(&record).encode().expect("encodes"))
        });
        group.bench_function(format!("decode_v2_{name}"), |b| {
            b.iter(|| LogRecord::decode(black_box(&text)).expect("decodes"))
        });
    }
    group.bench_function("decode_v1_prepare", |b| {
        b.iter(|| LogRecord::decode(black_box(V1_PREPARE)).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, record_codec);
criterion_main!(benches);
