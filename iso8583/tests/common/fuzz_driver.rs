// The decoder's fuzz driver, shared by `examples/fuzz_decode.rs` (the long
// run) and `tests/fuzz.rs` (the short run in every test run). Included
// with `#[path]`; not a test target of its own.

use harambee_iso8583::{Dialect, Message, Mti, decode, decode_prefix, encode};

/// xorshift64*: a small deterministic generator, so that a run is
/// reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid messages to mutate: a request, a response and a sign-on, in the
/// dialect.
fn corpus(dialect: &Dialect) -> Vec<Vec<u8>> {
    let mut request = Message::new(Mti::new(b"0200").expect("mti"));
    request
        .set(3, "400000")
        .set(4, "000000001050")
        .set(7, "1202101500")
        .set(11, "004711")
        .set(28, "D00000100")
        .set(32, "60001")
        .set(35, "4761739001010010=2212")
        .set(37, "633610004711")
        .set(49, "404")
        .set(52, [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3])
        .set(60, "free text / 99")
        .set(102, "0012345678901")
        .set(103, "254700000001");
    let mut response = request.clone();
    response.mti = Mti::new(b"0210").expect("mti");
    response.set(38, "A1B2C3").set(39, "00");
    let mut sign_on = Message::new(Mti::new(b"0800").expect("mti"));
    sign_on
        .set(7, "1202101500")
        .set(11, "000001")
        .set(70, "001");
    [request, response, sign_on]
        .iter()
        .map(|m| encode(dialect, m).expect("the corpus encodes"))
        .collect()
}

/// One input: random bytes, or a valid message with bytes changed,
/// inserted, removed or cut.
fn input(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if rng.below(8) == 0 {
        for _ in 0..rng.below(300) {
            out.push(rng.next() as u8);
        }
        return;
    }
    out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] = rng.next() as u8,
            1 => out[at] = b"0123456789ABCDEF"[rng.below(16)],
            2 => out.insert(at, rng.next() as u8),
            3 => {
                out.remove(at);
            }
            4 => out.truncate(at),
            _ => out[at] ^= 1 << rng.below(8),
        }
    }
}

/// Decodes `count` inputs in each shipped dialect; returns how many
/// decoded. A panic is the failure.
pub fn run(seed: u64, count: u64) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let mut decoded = 0;
    let mut tried = 0;
    let mut buf = Vec::with_capacity(512);
    for dialect in [Dialect::ascii_1987(), Dialect::binary_1987()] {
        let corpus = corpus(&dialect);
        for _ in 0..count / 2 {
            input(&mut rng, &corpus, &mut buf);
            tried += 1;
            if let Ok(m) = decode(&dialect, &buf) {
                decoded += 1;
                // Whatever decodes is a message of the dialect.
                let again = encode(&dialect, &m).expect("a decoded message encodes");
                assert_eq!(decode(&dialect, &again).expect("and decodes"), m);
            }
            let _ = decode_prefix(&dialect, &buf);
        }
    }
    (tried, decoded)
}
