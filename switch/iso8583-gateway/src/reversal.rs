//! Reversals: a legacy host withdraws a 0200 it made (0400, or the
//! reversal advice 0420 and its repeat 0421) and is answered 0410/0430.
//!
//! The original is named by field 90 (its MTI, STAN and transmission
//! time), field 37 (its RRN) and field 32 (the institution that sent it):
//! the same parts its transfer id was derived from. The rule:
//!
//! | the original's transfer | the reversal | 39 |
//! | --- | --- | --- |
//! | reserved (the payee has not answered) | aborts it (4100) | 00 |
//! | aborted, refused or expired | nothing to undo | 00 |
//! | committed | refused: an instant transfer is irrevocable; the payee refunds with a transfer of its own | 12 |
//! | never received | nothing to undo | 25 |
//! | a reversal that is not the original's (other amount) | refused | 13 |
//!
//! The answer follows from the transfer's state alone, so a repeated
//! reversal is answered as the first was.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::ErrorCode;
use harambee_iso8583::Message;
use harambee_ledger::TransferState;
use harambee_service::Service;
use rust_decimal::Decimal;

use crate::GatewaySettings;
use crate::acquiring::{InFlight, Unrecorded, transfer_id_of};
use crate::hosts::HostBinding;

/// The fields of a reversal its response echoes.
pub(crate) const ECHOED: &[usize] = &[2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90, 102, 103];

/// The fields a reversal must carry.
const REQUIRED: &[usize] = &[4, 11, 32, 37, 90];

/// How often a reversal whose original is still being looked up or quoted
/// looks again for its transfer.
const ORIGINAL_POLL_MS: u64 = 5;

/// 39 of a reversal of a committed transfer.
pub const COMMITTED_REFUSED: &str = "12";

/// 39 of a reversal of a request the switch never received.
pub const ORIGINAL_UNKNOWN: &str = "25";

/// Field 90 of ISO 8583:1987: the original's MTI (4), STAN (6),
/// transmission date and time (10), acquiring institution (11) and
/// forwarding institution (11), all digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalData {
    pub mti: String,
    pub stan: String,
    pub transmitted: String,
    pub acquirer: String,
    pub forwarder: String,
}

impl OriginalData {
    pub fn parse(text: &str) -> Option<OriginalData> {
        if text.len() != 42 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(OriginalData {
            mti: text[..4].to_string(),
            stan: text[4..10].to_string(),
            transmitted: text[10..20].to_string(),
            acquirer: text[20..31].to_string(),
            forwarder: text[31..42].to_string(),
        })
    }

    /// Field 90 for an original.
    pub fn format(mti: &str, stan: &str, transmitted: &str, acquirer: &str) -> String {
        format!(
            "{mti:0>4}{stan:0>6}{transmitted:0>10}{acquirer:0>11}{:0>11}",
            ""
        )
    }
}

/// Whether two institution ids are the same number (field 90 pads them
/// to 11 digits, field 32 does not).
fn same_institution(a: &str, b: &str) -> bool {
    a.trim_start_matches('0') == b.trim_start_matches('0')
}

/// What a reversal comes to.
pub(crate) enum Reply {
    /// Answered with this response code.
    Code(&'static str),
    /// It cannot be acted on now (the log refused the abort, say): an
    /// advice (0420/0421) is not answered, so that the host repeats it,
    /// since a host takes any 0430 as done; a request (0400) is answered
    /// 96.
    Later(String),
}

/// Whether `m` is a reversal advice (0420, 0421), which a host repeats
/// until it is answered, rather than a request (0400, 0401).
pub(crate) fn is_advice(m: &Message) -> bool {
    m.mti.as_bytes()[2] == b'2'
}

/// The 0410/0430 for a host's reversal, or none for an advice that
/// cannot be acted on now.
pub(crate) async fn reverse(
    service: &Arc<Service>,
    settings: &GatewaySettings,
    hosts: &[HostBinding],
    pending: &InFlight,
    request: &Message,
) -> Option<Message> {
    let code = match outcome(service, settings, hosts, pending, request).await {
        Reply::Code(code) => code,
        Reply::Later(why) if is_advice(request) => {
            tracing::warn!(error = %why, "iso8583: a reversal advice not acted on now, left unanswered for the host to repeat");
            metrics::counter!("harambee_iso8583_reversals_total", "code" => "unanswered")
                .increment(1);
            return None;
        }
        Reply::Later(why) => {
            tracing::warn!(error = %why, "iso8583: a reversal not acted on now");
            "96"
        }
    };
    metrics::counter!("harambee_iso8583_reversals_total", "code" => code).increment(1);
    Some(request.response_to(ECHOED, code))
}

async fn outcome(
    service: &Arc<Service>,
    settings: &GatewaySettings,
    hosts: &[HostBinding],
    pending: &InFlight,
    m: &Message,
) -> Reply {
    use Reply::{Code, Later};
    if REQUIRED.iter().any(|n| !m.has(*n)) {
        return Code("30");
    }
    let text = |n: usize| m.text(n).unwrap_or_default().trim().to_string();
    let institution = text(32);
    let Some(host) = hosts.iter().find(|h| h.institution_id == institution) else {
        return Code("63");
    };
    let Some(original) = OriginalData::parse(&text(90)) else {
        return Code("30");
    };
    // Only a financial request is reversed here, and only by the
    // institution that sent it.
    if !matches!(original.mti.as_str(), "0200" | "0201")
        || !(same_institution(&original.acquirer, &institution)
            || original.acquirer.bytes().all(|b| b == b'0'))
    {
        return Code(ORIGINAL_UNKNOWN);
    }
    let Ok(minor) = text(4).parse::<i64>() else {
        return Code("30");
    };
    let id = transfer_id_of(
        &institution,
        &text(37),
        &original.stan,
        &original.transmitted,
    );
    let payer = host.participant.as_str();
    // The original may still be on its way to the ledger (its lookup or
    // quote running): its transfer is looked for until it is there or the
    // original is done, for as long as a transfer of the gateway lives.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(settings.transfer_expiry_ms);
    let view = loop {
        match service.transfers.view(payer, id) {
            Ok(view) => break view,
            Err(e) if e.code == ErrorCode::TransferNotFound => {
                match pending.withdraw_unrecorded(id) {
                    // Never received: remembered, so that it never pays if
                    // it comes after all.
                    Unrecorded::Withdrawn => return Code(ORIGINAL_UNKNOWN),
                    Unrecorded::Running if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(ORIGINAL_POLL_MS)).await;
                    }
                    Unrecorded::Running => {
                        return Later("the original is still being run".into());
                    }
                }
            }
            // Another participant's transfer: not this host's to reverse.
            Err(e) if e.code == ErrorCode::GenericClientError => return Code(ORIGINAL_UNKNOWN),
            Err(e) => return Later(e.to_string()),
        }
    };
    let currency_matches = match m.text(49).map(str::trim) {
        None => true,
        Some(c) => c.parse::<u16>().ok() == Some(view.record.currency.numeric()),
    };
    if Decimal::new(minor, view.record.currency.scale()) != view.amount || !currency_matches {
        return Code("13");
    }
    let view = match view.record.state {
        TransferState::Reserved => match service.transfers.withdraw(payer, id).await {
            Ok(view) => view,
            Err(e) => return Later(format!("the abort could not be logged: {e}")),
        },
        _ => view,
    };
    match view.record.state {
        TransferState::Committed => {
            tracing::info!(transfer = %id, "iso8583: a reversal of a committed transfer, refused");
            Code(COMMITTED_REFUSED)
        }
        TransferState::Aborted | TransferState::Refused => Code("00"),
        // Still reserved: the log did not take the abort.
        TransferState::Reserved => Later("the transfer is still reserved".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_90_names_the_original() {
        let text = OriginalData::format("0200", "004711", "1202101500", "60001");
        assert_eq!(text.len(), 42);
        assert_eq!(
            OriginalData::parse(&text),
            Some(OriginalData {
                mti: "0200".into(),
                stan: "004711".into(),
                transmitted: "1202101500".into(),
                acquirer: "00000060001".into(),
                forwarder: "00000000000".into(),
            })
        );
        assert!(same_institution("00000060001", "60001"));
        assert!(!same_institution("00000060001", "60002"));
        assert_eq!(OriginalData::parse(&text[..41]), None);
        assert_eq!(OriginalData::parse(&text.replace('4', "x")), None);
    }
}
