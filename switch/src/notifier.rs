//! Tells participants what happened to their transfers: a commit to the
//! payee, an abort to both sides (3303 on expiry). Every notice goes to the
//! Notifications stream of the participant and, best effort, to its
//! PayeeCallback `Notify`.
//!
//! Driven by the engine's ledger events, so transfers finished by the
//! request path and by the expiry sweep are told the same way.

use std::collections::HashMap;

use harambee_ledger::Event;
use harambee_proto::v1::{Notification, notification};
use tokio::sync::broadcast::error::RecvError;

use crate::callbacks::with_deadline;
use crate::edge::{Ctx, Notice, now_ms, transfer_result};
use crate::validate;

/// Deadline of one Notify call.
pub const NOTIFY_TIMEOUT_MS: u64 = 5_000;

/// Runs until the switch stops.
pub async fn run(ctx: Ctx, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut events = ctx.engine.subscribe();
    let mut sequences: HashMap<String, u64> = HashMap::new();
    loop {
        let received = tokio::select! {
            received = events.recv() => received,
            _ = stop.wait_for(|s| *s) => return,
        };
        let batch = match received {
            Ok(batch) => batch,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "notifier fell behind; some notices were not sent");
                metrics::counter!("harambee_notices_dropped_total").increment(missed);
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        for at in &batch.events {
            let (id, committed) = match &at.event {
                Event::TransferCommitted { transfer_id, .. } => (*transfer_id, true),
                Event::TransferAborted { transfer_id, .. } => (*transfer_id, false),
                _ => continue,
            };
            let (result, payer, payee) = {
                let st = ctx.engine.read();
                let Some(t) = st.ledger.transfer(id) else {
                    continue;
                };
                let payer = st
                    .ledger
                    .participant(t.payer)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                let payee = st
                    .ledger
                    .participant(t.payee)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                (
                    transfer_result(t, payer.clone(), payee.clone()),
                    payer,
                    payee,
                )
            };
            let recipients = if committed {
                vec![payee]
            } else {
                vec![payer, payee]
            };
            for participant in recipients {
                let sequence = sequences.entry(participant.clone()).or_insert(0);
                *sequence += 1;
                let kind = if committed {
                    notification::Kind::TransferCommitted(result.clone())
                } else {
                    notification::Kind::TransferAborted(result.clone())
                };
                let notification = Notification {
                    sequence: *sequence,
                    time: Some(validate::timestamp(now_ms())),
                    kind: Some(kind),
                };
                let _ = ctx.notices.send(Notice {
                    participant: participant.clone(),
                    notification: notification.clone(),
                });
                // Callbacks are the writer's job: in a cluster every node
                // applies the same events, and each feeds its own streams.
                if ctx.engine.is_writer() {
                    push(&ctx, &participant, notification);
                }
            }
        }
    }
}

/// Sends a notice to the participant's callback, without waiting for it.
fn push(ctx: &Ctx, participant: &str, notification: Notification) {
    let Some(url) = ctx
        .engine
        .read()
        .directory
        .endpoint(participant)
        .map(str::to_string)
    else {
        return;
    };
    let Ok(mut client) = ctx.channels.payee(&url) else {
        return;
    };
    let participant = participant.to_string();
    tokio::spawn(async move {
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
