//! The expiry sweep: reserved transfers whose expiration has passed are
//! aborted (3303), also those left by a previous run, and expired quotes
//! are released from memory. Each sweep is a record in the log like any
//! other, and only the writer sweeps.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::record::{DirectoryCommand, LedgerCommand, LogRecord};
use harambee_core::state::{Applied, DirectoryReply};
use tokio::sync::watch;

use crate::Service;

/// Most transfers one expiry sweep aborts.
pub const SWEEP_BATCH_MAX: u32 = 10_000;

/// Most quotes one sweep releases from memory.
pub const QUOTE_SWEEP_BATCH_MAX: u32 = 10_000;

/// Sweeps every `expiry_sweep_interval_ms` until the switch stops.
pub async fn run(service: Arc<Service>, mut stop: watch::Receiver<bool>) {
    let interval = Duration::from_millis(service.settings.expiry_sweep_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // The writer sweeps; followers would only hand it the same work.
        if !service.is_writer() {
            continue;
        }
        let now = service.now_ms();
        let grace_ms = i64::try_from(service.settings.quote_grace_ms).unwrap_or(i64::MAX);
        let held_max_ms = i64::try_from(service.settings.quote_held_max_ms).unwrap_or(i64::MAX);
        let expired_before_ms = now.saturating_sub(grace_ms);
        let recorded_before_ms = now.saturating_sub(held_max_ms);
        let (transfers_due, quotes_due) = match service.read() {
            Ok(st) => {
                metrics::gauge!("harambee_quotes_held").set(st.directory.quote_count() as f64);
                metrics::gauge!("harambee_transfers_in_flight")
                    .set(st.ledger.in_flight_count() as f64);
                (
                    // Only when one is due: a sweep record that expires
                    // nothing would still be a record in the log.
                    st.ledger.any_due(now),
                    st.directory
                        .quotes_due(expired_before_ms, recorded_before_ms),
                )
            }
            Err(_) => return,
        };
        if transfers_due {
            let command = LedgerCommand::ExpireDue {
                now_ms: now,
                max: SWEEP_BATCH_MAX,
            };
            match service.engine.submit(LogRecord::Ledger(command)).await {
                Ok(Applied::Ledger { outcome }) => {
                    if let Ok(harambee_ledger::Reply::Expired { count }) = outcome.result
                        && count > 0
                    {
                        tracing::info!(count, "expired reserved transfers");
                        metrics::counter!("harambee_transfers_expired_total")
                            .increment(u64::from(count));
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiry sweep could not reach the log"),
            }
        }
        if quotes_due {
            let record = LogRecord::Directory(DirectoryCommand::ExpireQuotes {
                expired_before_ms,
                recorded_before_ms,
                max: QUOTE_SWEEP_BATCH_MAX,
                now_ms: now,
            });
            match service.engine.submit(record).await {
                Ok(Applied::Directory(Ok(DirectoryReply::QuotesExpired(count)))) => {
                    metrics::counter!("harambee_quotes_released_total").increment(u64::from(count));
                    tracing::debug!(count, "released expired quotes from memory");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "quote sweep could not reach the log"),
            }
        }
    }
}
