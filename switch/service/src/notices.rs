//! Notices to participants, as they happen and from a number on.
//!
//! - [`run`]: the notices of every applied record (derived from the log by
//!   the core, made wire notifications by the read side) go on this
//!   node's live path, to every open stream, and, from the writer, best
//!   effort, through the [`Notices`] port to each participant's callback.
//! - [`Service::notices_from`]: one participant's notices numbered
//!   `from` and after, in order, each once: from the notices projection
//!   for what is behind, from the live path for what is new.
//!
//! The live path is only the fast path. Every notice is also stored by the
//! projector with its number, and a stream fills any gap from there, so a
//! notice missed on the live path (a lagging stream, a delivery that
//! failed) is never lost to a participant that reconnects with its number.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_ledger::ParticipantId;
use harambee_proto::v1::Notification;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};

use crate::Service;
use crate::ports::Notices;

/// Records whose notices are sent in one go.
pub const NOTIFY_RECORDS_MAX: usize = 4_096;

/// Stored notifications a stream reads at a time.
pub const NOTICES_PAGE_MAX: u32 = 256;

/// How long a stream that is behind waits for the live path before it
/// looks in the store again.
pub const NOTICE_POLL_MS: u64 = 200;

/// Notifications waiting to be sent on one stream.
pub const STREAM_BUFFER_MAX: usize = 256;

/// A notification for one participant, on the live path.
#[derive(Clone, Debug)]
pub struct Notice {
    pub participant: String,
    pub notification: Notification,
}

/// Puts the notices of every record this node applies on the live path
/// and, on the writer, to `delivery`; runs until the switch stops.
pub async fn run(
    service: Arc<Service>,
    delivery: Arc<dyn Notices>,
    mut stop: watch::Receiver<bool>,
) {
    let feed = service.engine.feed().clone();
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
            let Ok(st) = service.read() else { return };
            notices.extend(
                batch
                    .records
                    .iter()
                    .flat_map(|r| &r.notices)
                    .filter_map(|draft| harambee_read::notices::materialize(&st, draft)),
            );
        }
        // Deliveries are the writer's job: in a cluster every node applies
        // the same records, and each feeds its own streams.
        let deliver = service.is_writer();
        for (participant, notification) in notices {
            if deliver {
                let route = service
                    .read()
                    .ok()
                    .and_then(|st| crate::transfers::route_of(&st, &participant));
                if let Some(route) = route {
                    delivery.deliver(&participant, &route, notification.clone());
                }
            }
            let _ = service.bus.send(Notice {
                participant,
                notification,
            });
        }
    }
}

impl Service {
    /// The notices of participant `caller` numbered `from` and after (0:
    /// only those yet to come), in order and each once, until the receiver
    /// is dropped or the switch stops. Notices older than the store's
    /// retention are skipped (the numbers show it).
    pub fn notices_from(
        self: &Arc<Self>,
        caller: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Result<Notification, SwitchError>>, SwitchError> {
        // Subscribed before the numbers are read: nothing falls between.
        let bus = self.bus.subscribe();
        let (participant, last) = {
            let st = self.read()?;
            let p = st.ledger.participant_by_name(caller).ok_or_else(|| {
                SwitchError::new(ErrorCode::PayerFspNotFound, "not a participant")
            })?;
            (p.id, st.notices.last(p.id))
        };
        let next = if from == 0 { last + 1 } else { from };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER_MAX);
        tokio::spawn(stream(
            self.clone(),
            caller.to_string(),
            participant,
            next,
            bus,
            tx,
        ));
        Ok(rx)
    }
}

/// Sends `caller` its notifications numbered `next` and after: from the
/// notices projection for what is behind, from the live path for what is
/// new. A gap in the live path (a lagging stream) is filled from the
/// projection.
async fn stream(
    service: Arc<Service>,
    caller: String,
    participant: ParticipantId,
    mut next: u64,
    mut bus: broadcast::Receiver<Notice>,
    tx: mpsc::Sender<Result<Notification, SwitchError>>,
) {
    loop {
        let known = match service.read().map(|st| st.notices.last(participant)) {
            Ok(known) => known,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if next <= known {
            match service
                .projections
                .notices(&caller, next, NOTICES_PAGE_MAX)
                .await
            {
                Ok(rows) if !rows.is_empty() => {
                    for row in rows {
                        let sequence = row.sequence.max(0) as u64;
                        if sequence < next {
                            continue;
                        }
                        let notification = row.stored().and_then(|stored| {
                            let st = service.read().ok()?;
                            harambee_read::notices::from_stored(
                                &st,
                                participant,
                                sequence,
                                row.time_ms,
                                stored,
                            )
                        });
                        let Some(notification) = notification else {
                            tracing::warn!(%caller, sequence, "a stored notification cannot be read");
                            next = sequence + 1;
                            continue;
                        };
                        if tx.send(Ok(notification)).await.is_err() {
                            return;
                        }
                        next = sequence + 1;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "notices projection unavailable"),
            }
            // Not stored yet (the projector is behind): the live path may
            // have it; else look again shortly.
            match tokio::time::timeout(Duration::from_millis(NOTICE_POLL_MS), bus.recv()).await {
                Ok(Ok(notice))
                    if notice.participant == caller && notice.notification.sequence == next =>
                {
                    if tx.send(Ok(notice.notification)).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                Ok(Err(RecvError::Closed)) => return,
                _ => {}
            }
            continue;
        }
        let received = tokio::select! {
            received = bus.recv() => received,
            _ = tx.closed() => return,
        };
        match received {
            Ok(notice) if notice.participant == caller => {
                // Later than `next`: the gap is filled at the top of the loop.
                if notice.notification.sequence == next {
                    if tx.send(Ok(notice.notification)).await.is_err() {
                        return;
                    }
                    next += 1;
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
