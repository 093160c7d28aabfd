//! The ISO 8583 codec on a typical 0200 account-transfer request, in both
//! shipped dialects: decode (bytes to a message, every field checked) and
//! encode (a message to bytes, every field checked first). The target is at
//! least 1,000,000 messages/s on one core each way.
//!
//! Run: `cargo bench -p harambee-benches --bench iso8583_codec`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harambee_iso8583::{Dialect, Message, Mti, decode, encode};

/// A 0200 as a legacy host sends it to pay an MSISDN.
fn financial_request() -> Message {
    let mut m = Message::new(Mti::new(b"0200").expect("an MTI"));
    m.set(3, "400000")
        .set(4, "000000001050")
        .set(7, "1202101500")
        .set(11, "004711")
        .set(12, "101500")
        .set(13, "1202")
        .set(32, "60001")
        .set(37, "633610004711")
        .set(41, "TERM0001")
        .set(49, "404")
        .set(102, "0012345678901")
        .set(103, "254700000001");
    m
}

fn bench(c: &mut Criterion) {
    let message = financial_request();
    for dialect in [Dialect::ascii_1987(), Dialect::binary_1987()] {
        let bytes = encode(&dialect, &message).expect("encodes");
        let mut group = c.benchmark_group(format!("iso8583/{}", dialect.name));
        group.throughput(Throughput::Elements(1));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("decode 0200", |b| {
            b.iter(|| decode(&dialect, black_box(&bytes)).expect("decodes"))
        });
        group.bench_function("encode 0200", |b| {
            b.iter(|| encode(&dialect, black_box(&message)).expect("encodes"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
