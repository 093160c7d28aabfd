// The mutations the request fuzz drivers share (`requests.rs`,
// `operator_requests.rs`). Included with `#[path]`; not a test target of
// its own.

use rand::Rng;
use rand::rngs::StdRng;

/// One input from `valid`: random bytes one time in ten, else `valid`
/// with a number of mutations drawn from `mutations` (byte changes,
/// insertions, deletions, truncation, printable bytes where text was,
/// repeated stretches, bit flips).
pub fn input(rng: &mut StdRng, valid: &[u8], out: &mut Vec<u8>, mutations: std::ops::Range<u32>) {
    out.clear();
    if rng.random_range(0..10) == 0 {
        for _ in 0..rng.random_range(0..200) {
            out.push(rng.random());
        }
        return;
    }
    out.extend_from_slice(valid);
    for _ in 0..rng.random_range(mutations) {
        if out.is_empty() {
            break;
        }
        let at = rng.random_range(0..out.len());
        match rng.random_range(0..7) {
            0 => out[at] = rng.random(),
            1 => out.insert(at, rng.random()),
            2 => {
                out.remove(at);
            }
            3 => out.truncate(at),
            // A printable byte where text was: keeps strings strings.
            4 => out[at] = rng.random_range(0x20..0x7f),
            5 => {
                let end = (at + rng.random_range(1..32)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => out[at] ^= 1 << rng.random_range(0..8),
        }
    }
}
