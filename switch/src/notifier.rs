//! Tells participants what happened, as it happens: the notices of every
//! applied record (see `notices`) go to the live Notifications streams of
//! this node and, from the writer, best effort, to each participant's
//! PayeeCallback `Notify`.
//!
//! The live path is only the fast path. Every notice is also stored by the
//! projector with its number, and a stream fills any gap from there (see
//! `participant_api::notifications`), so a notice missed here (a lagging
//! stream, a Notify that failed) is never lost to a participant that
//! reconnects with `from_sequence`.

use std::sync::Arc;

use harambee_proto::v1::Notification;
use tokio::sync::Semaphore;

use crate::edge::{Ctx, Notice};
use harambee_proto::client::with_deadline;

/// Deadline of one Notify call.
pub const NOTIFY_TIMEOUT_MS: u64 = 5_000;

/// Notify calls in flight at once; beyond, notices are not pushed (they
/// stay readable on the Notifications stream).
pub const NOTIFY_IN_FLIGHT_MAX: usize = 1_024;

/// Records whose notices are sent in one go.
pub const NOTIFY_RECORDS_MAX: usize = 4_096;

/// Runs until the switch stops.
pub async fn run(ctx: Ctx, mut stop: tokio::sync::watch::Receiver<bool>) {
    let in_flight = Arc::new(Semaphore::new(NOTIFY_IN_FLIGHT_MAX));
    let feed = ctx.engine.feed().clone();
    // Live notices only: what was before is in the notices projection.
    let mut reader = feed.reader(feed.applied());
    loop {
        let next = tokio::select! {
            next = reader.next(NOTIFY_RECORDS_MAX) => next,
            _ = stop.wait_for(|s| *s) => return,
        };
        let batches = match next {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "the notifier could not read the feed; going on from the head");
                reader = feed.reader(feed.applied());
                continue;
            }
        };
        // Batch by batch: the engine never waits long for the lock.
        let mut notices: Vec<(String, Notification)> = Vec::new();
        for batch in &batches {
            let Ok(st) = ctx.engine.read() else { return };
            notices.extend(
                batch
                    .records
                    .iter()
                    .flat_map(|r| &r.notices)
                    .filter_map(|draft| harambee_read::notices::materialize(&st, draft)),
            );
        }
        // Callbacks are the writer's job: in a cluster every node applies
        // the same records, and each feeds its own streams.
        let push_callbacks = ctx.engine.is_writer();
        for (participant, notification) in notices {
            if push_callbacks {
                push(&ctx, &in_flight, &participant, notification.clone());
            }
            let _ = ctx.notices.send(Notice {
                participant,
                notification,
            });
        }
    }
}

/// Sends a notice to the participant's callback, without waiting for it.
fn push(ctx: &Ctx, in_flight: &Arc<Semaphore>, participant: &str, notification: Notification) {
    let Some(url) = ctx
        .engine
        .read()
        .ok()
        .and_then(|st| st.directory.endpoint(participant).map(str::to_string))
    else {
        return;
    };
    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
        metrics::counter!("harambee_notify_total", "result" => "skipped").increment(1);
        return;
    };
    let Ok(mut client) = ctx.channels.payee(&url) else {
        return;
    };
    let participant = participant.to_string();
    tokio::spawn(async move {
        let _permit = permit;
        let timeout = Ctx::timeout(NOTIFY_TIMEOUT_MS);
        match client.notify(with_deadline(notification, timeout)).await {
            Ok(_) => metrics::counter!("harambee_notify_total", "result" => "ok").increment(1),
            Err(status) => {
                metrics::counter!("harambee_notify_total", "result" => "failed").increment(1);
                tracing::debug!(%participant, error = %status.message(), "notify failed");
            }
        }
    });
}
