//! Workloads shared by Harambee's benchmarks.
//!
//! Kept in a library (not in the bench files) so that a test can check that
//! the workload does what the benchmark claims: every prepare reserves and
//! every commit commits. A benchmark of refusals would be fast and worthless.

use harambee_ledger::{
    Command, Currency, FundsId, Ledger, ParticipantId, ParticipantKind, TransferId,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Time of every command in the workload.
pub const NOW_MS: i64 = 1_700_000_000_000;

/// The workload's currency.
pub fn usd() -> Currency {
    // "USD" is in the ISO 4217 table.
    Currency::parse("USD").unwrap_or_else(|_| unreachable!("USD is ISO 4217"))
}

/// A ledger with `participants` banks in USD, each with ample liquidity and
/// net debit cap so that the workload never hits a limit.
pub fn funded_ledger(participants: u32) -> Ledger {
    let mut ledger = Ledger::new();
    let mut events = Vec::new();
    let plenty = Decimal::new(1_000_000_000_000, 0);
    ledger.apply(
        &Command::EnableCurrency {
            currency: usd(),
            scale: None,
        },
        &mut events,
    );
    for i in 0..participants {
        let name = format!("bank-{i}");
        ledger.apply(
            &Command::CreateParticipant {
                name,
                kind: ParticipantKind::Bank,
            },
            &mut events,
        );
        let participant = ParticipantId(i + 1);
        ledger.apply(
            &Command::OpenAccounts {
                participant,
                currency: usd(),
                net_debit_cap: plenty,
            },
            &mut events,
        );
        ledger.apply(
            &Command::FundsIn {
                funds_id: FundsId(u128::from(i) + 1),
                participant,
                currency: usd(),
                amount: plenty,
            },
            &mut events,
        );
    }
    ledger
}

/// A batch of `2 * transfers` commands: `transfers` prepares between
/// pseudo-random pairs of distinct participants, then the commit of each with
/// its correct fulfilment. Transfer ids are scattered like UUIDs, derived from
/// the sequence numbers `first_id..first_id + transfers`.
pub fn transfer_batch(first_id: u128, transfers: u32, participants: u32) -> Vec<Command> {
    assert!(participants >= 2, "a transfer needs two participants");
    let mut commands = Vec::with_capacity(2 * transfers as usize);
    let mut fulfilments = Vec::with_capacity(transfers as usize);
    let mut seed = first_id as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*: deterministic, no dependency.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for k in 0..transfers {
        let id = scatter(first_id + u128::from(k));
        let payer = (next() % u64::from(participants)) as u32;
        let mut payee = (next() % u64::from(participants - 1)) as u32;
        if payee >= payer {
            payee += 1;
        }
        let fulfilment: [u8; 32] = Sha256::digest(id.to_le_bytes()).into();
        let condition: [u8; 32] = Sha256::digest(fulfilment).into();
        let cents = 100 + (next() % 9_900) as i64;
        commands.push(Command::Prepare {
            transfer_id: TransferId(id),
            payer: ParticipantId(payer + 1),
            payee: ParticipantId(payee + 1),
            currency: usd(),
            amount: Decimal::new(cents, 2),
            condition,
            expires_at_ms: NOW_MS + 30_000,
            now_ms: NOW_MS,
        });
        fulfilments.push((id, fulfilment));
    }
    for (id, fulfilment) in fulfilments {
        commands.push(Command::Commit {
            transfer_id: TransferId(id),
            fulfilment,
            now_ms: NOW_MS + 5,
        });
    }
    commands
}

/// A bijective 128-bit mix (two rounds of splitmix64), so ids look random.
fn scatter(n: u128) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (hi, lo) = ((n >> 64) as u64, n as u64);
    (u128::from(mix(lo ^ hi.rotate_left(17))) << 64) | u128::from(mix(lo.wrapping_add(1) ^ 0x5555))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harambee_ledger::{BatchOutput, Reply, TransferState};

    #[test]
    fn every_prepare_reserves_and_every_commit_commits() {
        let mut ledger = funded_ledger(100);
        let mut out = BatchOutput::default();
        for batch in 0..3u128 {
            out.clear();
            let cmds = transfer_batch(1 + batch * 4000, 4000, 100);
            ledger.apply_batch(&cmds, &mut out);
            let (prepares, commits) = out.outcomes.split_at(4000);
            assert!(prepares.iter().all(|o| matches!(
                o.result,
                Ok(Reply::Transfer {
                    state: TransferState::Reserved,
                    ..
                })
            )));
            assert!(commits.iter().all(|o| matches!(
                o.result,
                Ok(Reply::Transfer {
                    state: TransferState::Committed,
                    ..
                })
            )));
        }
        assert_eq!(ledger.transfer_count(), 12_000);
        assert_eq!(ledger.check_invariants(), Ok(()));
    }
}
