//! Acquiring: a legacy host pays. Its 0200 runs the payment on the service
//! layer (lookup of the payee's alias, the payee's quote, the transfer) and
//! is answered 0210 with the outcome in 39.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use harambee_core::error::ErrorCode;
use harambee_core::record::PrepareTerms;
use harambee_iso8583::Message;
use harambee_ledger::{Currency, TransferId, TransferState};
use harambee_proto::v1::{AmountType, Money, Party, PartyIdType, PartyIdentifier, QuoteRequest};
use harambee_service::Service;
use harambee_service::transfers::{Prepare, TransferView};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::GatewaySettings;
use crate::hosts::HostBinding;

/// The fields of a 0200 its 0210 echoes.
pub(crate) const ECHOED: &[usize] = &[2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 102, 103];

/// Why a withdrawn request ended: the payer's rejection (39=05).
pub(crate) const WITHDRAWN_REASON: u16 = 4100;

/// The fields a 0200 must carry.
const REQUIRED: &[usize] = &[3, 4, 7, 11, 32, 37, 49, 102, 103];

/// The ISO 8583 response code (39) for an FSPIOP error code of the switch:
///
/// | 39 | outcome |
/// | --- | --- |
/// | 00 | committed (not an error) |
/// | 51 | payer liquidity, 4001 |
/// | 61 | net debit cap, 4200 |
/// | 14 | unknown payee alias, 3204 (and the other 32xx: no such party or participant) |
/// | 05 | payee rejected (5xxx), or another payer-side refusal (4xxx) |
/// | 68 | expired, 3303 |
/// | 91 | payee unreachable (1xxx) |
/// | 94 | duplicate transmission with other content, 3106 |
/// | 30 | format error (3100, 3101, 3102 and the other 31xx) |
/// | 96 | system error (2xxx and anything else) |
pub fn response_code(fspiop: u16) -> &'static str {
    match fspiop {
        4001 => "51",
        4200 => "61",
        3106 => "94",
        3303 => "68",
        3200..=3299 => "14",
        3100..=3199 => "30",
        5000..=5999 => "05",
        4000..=4999 => "05",
        1000..=1999 => "91",
        _ => "96",
    }
}

/// The transfer id of a host's request: the same (host, RRN, STAN,
/// transmission date and time) always names the same transfer, so a
/// repeated 0200 (or 0201) finds the transfer the first one made and never
/// moves money twice. A UUID (version 8, name-based).
pub fn transfer_id_of(institution: &str, rrn: &str, stan: &str, transmitted: &str) -> TransferId {
    TransferId(derived("transfer", institution, rrn, stan, transmitted))
}

fn derived(kind: &str, institution: &str, rrn: &str, stan: &str, transmitted: &str) -> u128 {
    let mut h = Sha256::new();
    for part in [
        "harambee-iso8583",
        kind,
        institution,
        rrn,
        stan,
        transmitted,
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562 version 8 (custom), variant 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    u128::from_be_bytes(bytes)
}

fn uuid_text(id: u128) -> String {
    harambee_core::text::uuid_string(id)
}

/// The outcome of one request, shared by its repeats while it runs.
#[derive(Clone, Debug)]
struct Outcome {
    code: &'static str,
    approval: Option<String>,
}

/// Requests withdrawn before they arrived, remembered at most this many.
pub(crate) const WITHDRAWN_MAX: usize = 65_536;

/// How long a request withdrawn before it arrived is refused if it does
/// arrive: longer than any host's repeats.
pub(crate) const WITHDRAWN_KEPT_MS: u64 = 15 * 60 * 1_000;

/// The requests in progress, by transfer id, across the gateway's
/// connections: a repeat that arrives while the first is running waits for
/// its outcome. And the requests a host reversed before the gateway had
/// them (a 0420 that overtook its 0200 on another connection): a 0200
/// that arrives after its own reversal is refused, so it never pays.
#[derive(Default)]
pub(crate) struct InFlight {
    inner: Mutex<Requests>,
}

#[derive(Default)]
struct Requests {
    running: HashMap<TransferId, Arc<OnceCell<Outcome>>>,
    withdrawn: HashMap<TransferId, std::time::Instant>,
    withdrawn_order: std::collections::VecDeque<TransferId>,
}

/// What a reversal finds of a request the ledger does not have.
pub(crate) enum Unrecorded {
    /// It is being run (looked up, quoted): wait for its transfer.
    Running,
    /// Never received: remembered as withdrawn.
    Withdrawn,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks a host's 0200 and registers it as running, before its task
    /// starts, so that a reversal read after it on the connection finds
    /// it. The check goes to [`pay`].
    pub(crate) fn register(&self, hosts: &[HostBinding], request: &Message) -> Checked {
        let checked = checked(hosts, request);
        if let Ok(ask) = &checked {
            self.lock().running.entry(ask.transfer_id).or_default();
        }
        checked
    }

    /// For a reversal of a request the ledger does not have: running, or
    /// now remembered as withdrawn (one lock, so a 0200 registered after
    /// this finds it withdrawn).
    pub(crate) fn withdraw_unrecorded(&self, id: TransferId) -> Unrecorded {
        let mut r = self.lock();
        if r.running.contains_key(&id) {
            return Unrecorded::Running;
        }
        let now = std::time::Instant::now();
        let kept = std::time::Duration::from_millis(WITHDRAWN_KEPT_MS);
        while let Some(oldest) = r.withdrawn_order.front().copied() {
            let stale = r
                .withdrawn
                .get(&oldest)
                .is_none_or(|at| now.duration_since(*at) > kept);
            if !stale && r.withdrawn.len() < WITHDRAWN_MAX {
                break;
            }
            r.withdrawn_order.pop_front();
            r.withdrawn.remove(&oldest);
        }
        if r.withdrawn.insert(id, now).is_none() {
            r.withdrawn_order.push_back(id);
        }
        Unrecorded::Withdrawn
    }

    fn is_withdrawn(&self, id: TransferId) -> bool {
        let r = self.lock();
        r.withdrawn
            .get(&id)
            .is_some_and(|at| at.elapsed() <= std::time::Duration::from_millis(WITHDRAWN_KEPT_MS))
    }
}

/// A 0200 checked: what the gateway understood, or the response code
/// that refuses it at once.
pub(crate) type Checked = Result<Ask, &'static str>;

/// The 0210 for a host's 0200, checked and registered by
/// [`InFlight::register`].
pub(crate) async fn pay(
    service: &Arc<Service>,
    settings: &GatewaySettings,
    pending: &InFlight,
    request: &Message,
    checked: Checked,
) -> Message {
    let outcome = match checked {
        Err(code) => Outcome {
            code,
            approval: None,
        },
        Ok(ask) => {
            let cell = pending
                .lock()
                .running
                .entry(ask.transfer_id)
                .or_default()
                .clone();
            let outcome = cell
                .get_or_init(|| async {
                    if pending.is_withdrawn(ask.transfer_id) {
                        // Its reversal came first: it never pays.
                        return Outcome {
                            code: response_code(WITHDRAWN_REASON),
                            approval: None,
                        };
                    }
                    run(service, settings, &ask).await
                })
                .await
                .clone();
            pending.lock().running.remove(&ask.transfer_id);
            outcome
        }
    };
    let mut response = request.response_to(ECHOED, outcome.code);
    if let Some(approval) = outcome.approval {
        response.set(38, approval);
    }
    response
}

/// A 0200 as the gateway understood it.
pub(crate) struct Ask {
    payer: String,
    institution: String,
    transfer_id: TransferId,
    quote_id: String,
    transaction_id: String,
    amount: Decimal,
    currency: Currency,
    payee_alias: String,
    rrn: String,
    stan: String,
}

/// Checks a 0200's fields: a format error (30), a processing code the
/// gateway does not serve (12), or an institution id that is not one of
/// the connection's hosts (63, security violation) answer at once.
fn checked(hosts: &[HostBinding], m: &Message) -> Result<Ask, &'static str> {
    if REQUIRED.iter().any(|n| !m.has(*n)) {
        return Err("30");
    }
    let text = |n: usize| m.text(n).unwrap_or_default().trim().to_string();
    if !text(3).starts_with("40") {
        return Err("12");
    }
    let institution = text(32);
    let host = hosts
        .iter()
        .find(|h| h.institution_id == institution)
        .ok_or("63")?;
    let numeric: u16 = text(49).parse().map_err(|_| "30")?;
    let currency = Currency::from_numeric(numeric).map_err(|_| "30")?;
    let minor: i64 = text(4).parse().map_err(|_| "30")?;
    if minor <= 0 {
        return Err("30");
    }
    let amount = Decimal::new(minor, currency.scale());
    let payee_alias = text(103);
    if payee_alias.is_empty() || !payee_alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err("14");
    }
    let (rrn, stan, transmitted) = (text(37), text(11), text(7));
    Ok(Ask {
        payer: host.participant.clone(),
        transfer_id: transfer_id_of(&institution, &rrn, &stan, &transmitted),
        quote_id: uuid_text(derived("quote", &institution, &rrn, &stan, &transmitted)),
        transaction_id: uuid_text(derived(
            "transaction",
            &institution,
            &rrn,
            &stan,
            &transmitted,
        )),
        institution,
        amount,
        currency,
        payee_alias,
        rrn,
        stan,
    })
}

/// The outcome of a final transfer.
fn final_outcome(view: &TransferView) -> Outcome {
    match view.record.state {
        TransferState::Committed => Outcome {
            code: "00",
            approval: Some(approval_of(view.record.id)),
        },
        TransferState::Aborted | TransferState::Refused => Outcome {
            code: response_code(view.record.reason),
            approval: None,
        },
        TransferState::Reserved => Outcome {
            code: "96",
            approval: None,
        },
    }
}

/// 38, the approval code: six characters of the transfer id, so that the
/// host and the switch's records name the same payment.
fn approval_of(id: TransferId) -> String {
    format!("{:032X}", id.0)[..6].to_string()
}

async fn run(service: &Arc<Service>, settings: &GatewaySettings, ask: &Ask) -> Outcome {
    let error = |e: harambee_core::error::SwitchError| Outcome {
        code: response_code(e.number()),
        approval: None,
    };
    // A repeat: the transfer the first request made, final or awaited.
    if let Ok(view) = service.transfers.view(&ask.payer, ask.transfer_id) {
        if view.amount != ask.amount || view.record.currency != ask.currency {
            return Outcome {
                code: "94",
                approval: None,
            };
        }
        if view.record.state == TransferState::Reserved {
            let _ = service
                .transfers
                .wait_final(ask.transfer_id, view.record.expires_at_ms)
                .await;
        }
        return match service.transfers.view(&ask.payer, ask.transfer_id) {
            Ok(view) => final_outcome(&view),
            Err(e) => error(e),
        };
    }
    let alias = PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id: ask.payee_alias.clone(),
        sub_id: String::new(),
    };
    let payee = match service
        .lookup(&ask.payer, &alias, ask.currency.as_str())
        .await
    {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let quote = QuoteRequest {
        quote_id: ask.quote_id.clone(),
        transaction_id: ask.transaction_id.clone(),
        payee: Some(Party {
            identifier: Some(alias),
            fsp_id: payee.fsp_id.clone(),
            ..Party::default()
        }),
        payer: Some(Party {
            fsp_id: ask.payer.clone(),
            ..Party::default()
        }),
        amount_type: AmountType::Send as i32,
        amount: Some(Money {
            amount: ask.amount.to_string(),
            currency: ask.currency.to_string(),
        }),
        note: format!("ISO 8583 RRN {} STAN {}", ask.rrn, ask.stan),
        ..QuoteRequest::default()
    };
    let quoted = match service.quote(&ask.payer, quote).await {
        Ok(q) => q,
        Err(e) => return error(e),
    };
    let amount = quoted
        .transfer_amount
        .as_ref()
        .and_then(|m| m.amount.parse::<Decimal>().ok());
    let condition = harambee_proto::validate::b64url32("condition", &quoted.condition);
    let (Some(amount), Ok(condition)) = (amount, condition) else {
        return Outcome {
            code: "96",
            approval: None,
        };
    };
    if amount != ask.amount {
        // The host moves field 4, no more and no less: a payee that
        // quotes another amount is refused.
        return Outcome {
            code: response_code(ErrorCode::PayeeRejectedQuote.number()),
            approval: None,
        };
    }
    let prepare = Prepare {
        transfer_id: ask.transfer_id,
        payee: quoted.payee_fsp.clone(),
        amount,
        currency: ask.currency,
        condition,
        expires_at_ms: service
            .now_ms()
            .saturating_add(i64::try_from(settings.transfer_expiry_ms).unwrap_or(30_000)),
        terms: PrepareTerms {
            ilp_packet: quoted.ilp_packet.clone(),
            quote_id: quoted.quote_id.clone(),
            transaction_id: quoted.transaction_id.clone(),
            extensions: vec![
                ("iso8583.institution".into(), ask.institution.clone()),
                ("iso8583.rrn".into(), ask.rrn.clone()),
                ("iso8583.stan".into(), ask.stan.clone()),
            ],
        },
    };
    match service.transfers.prepare(&ask.payer, prepare).await {
        Ok(view) => final_outcome(&view),
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_response_code() {
        for (fspiop, iso) in [
            (4001, "51"),
            (4200, "61"),
            (3204, "14"),
            (5104, "05"),
            (3303, "68"),
            (1001, "91"),
            (3106, "94"),
            (3100, "30"),
            (3101, "30"),
            (2001, "96"),
        ] {
            assert_eq!(response_code(fspiop), iso, "{fspiop}");
        }
    }

    /// docs/ISO8583.md's worked example: the 0200 as pyiso8583 writes it,
    /// and the approval code its 0210 carries.
    #[test]
    fn the_worked_example_of_the_docs() {
        let mut m = Message::new(harambee_iso8583::Mti::new(b"0200").expect("mti"));
        m.set(3, "400000")
            .set(4, "000000001050")
            .set(7, "1202101500")
            .set(11, "004711")
            .set(12, "101500")
            .set(13, "1202")
            .set(32, "60001")
            .set(37, "633610004711")
            .set(49, "404")
            .set(102, "0012345678901")
            .set(103, "254711000001");
        let bytes = harambee_iso8583::encode(&harambee_iso8583::Dialect::ascii_1987(), &m)
            .expect("encodes");
        assert_eq!(
            String::from_utf8(bytes).expect("ascii"),
            concat!(
                "0200B2380001080080000000000006000000400000000000001050120210150000",
                "47111015001202056000163361000471140413001234567890112254711000001",
            )
        );
        let id = transfer_id_of("60001", "633610004711", "004711", "1202101500");
        assert_eq!(approval_of(id), "D35FF8");
    }

    #[test]
    fn a_request_names_one_transfer_whatever_its_repeats() {
        let a = transfer_id_of("60001", "633610004711", "004711", "1202101500");
        assert_eq!(
            a,
            transfer_id_of("60001", "633610004711", "004711", "1202101500")
        );
        for other in [
            transfer_id_of("60002", "633610004711", "004711", "1202101500"),
            transfer_id_of("60001", "633610004712", "004711", "1202101500"),
            transfer_id_of("60001", "633610004711", "004712", "1202101500"),
            transfer_id_of("60001", "633610004711", "004711", "1202101501"),
            // No two parts can run into each other.
            transfer_id_of("6000", "1633610004711", "004711", "1202101500"),
        ] {
            assert_ne!(a, other);
        }
        let text = uuid_text(a.0);
        assert_eq!(&text[14..15], "8", "version 8: {text}");
    }
}
