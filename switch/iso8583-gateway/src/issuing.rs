//! Issuing: a legacy host is paid. The switch reaches a participant whose
//! endpoint is `iso8583:<institution id>` through this connector: lookups
//! and quotes are answered on the host's behalf, and a transfer is put to
//! the host as a 0200 credit on one of its signed-on connections. Legacy
//! hosts know nothing of ILP: the condition and fulfilment are derived
//! from a secret the gateway holds for each host, and the fulfilment is
//! released only on a 0210 with 39=00.
//!
//! A host that approved a credit (or was sent one and never answered)
//! whose transfer is then aborted (its payer withdrew it, or it expired)
//! is sent a 0420 reversal advice, repeated as 0421 until the host
//! acknowledges it with a 0430: the host undoes the credit, and the host's
//! books agree with the switch's.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use harambee_core::error::{ErrorCode, SwitchError};
use harambee_iso8583::{Message, Mti};
use harambee_ledger::TransferId;
use harambee_proto::v1::notification::Kind;
use harambee_proto::v1::{Notification, Party, PartyIdentifier, QuoteRequest, QuoteTerms};
use harambee_service::ports::{
    Clock, Notices, PayeeAnswer, PayeeConnector, Route, SystemClock, TransferAsk,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use harambee_iso8583::transmission_time;

/// How long a quote given on a host's behalf holds, if the payer asked
/// for no expiration.
const QUOTE_VALID_MS: i64 = 60_000;

/// Transfers awaiting a host's 0210 at once, all hosts together.
const AWAITED_MAX: usize = 65_536;

/// Credits put to hosts whose transfer is not known final yet, all hosts
/// together; past this the oldest is forgotten (and logged).
const CREDITED_MAX: usize = 65_536;

/// How long the gateway waits for a host's 0430 to one reversal advice.
pub const REVERSAL_ANSWER_MS: u64 = 10_000;

/// How many times a reversal advice is sent (0420, then 0421) before it
/// is given up and logged for the operator.
pub const REVERSAL_ATTEMPTS_MAX: u32 = 5;

/// A 0200 credit put to a host, until its transfer is known final.
struct Credit {
    participant: String,
    message: Message,
    /// Written to the host's connection (a reversal goes after it).
    sent: bool,
    /// The transfer aborted while the credit was being written: it is
    /// reversed once it is.
    aborted: bool,
}

/// The credits put to hosts, by transfer, and the transfers that aborted
/// before their credit was put (whose credit is then never put): one lock,
/// so an abort and a credit of the same transfer cannot pass each other.
#[derive(Default)]
struct Credits {
    by_transfer: HashMap<TransferId, Credit>,
    order: VecDeque<TransferId>,
    aborted: std::collections::HashSet<TransferId>,
    aborted_order: VecDeque<TransferId>,
}

impl Credits {
    /// A credit about to be written; false if its transfer aborted
    /// already (the credit is not put).
    fn begin(&mut self, id: TransferId, participant: &str, message: Message) -> bool {
        if self.aborted.contains(&id) {
            return false;
        }
        while self.by_transfer.len() >= CREDITED_MAX {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if self.by_transfer.remove(&oldest).is_some() {
                tracing::warn!(transfer = %oldest, "iso8583: too many credits awaiting their outcome: the oldest is forgotten");
            }
        }
        let credit = Credit {
            participant: participant.to_string(),
            message,
            sent: false,
            aborted: false,
        };
        if self.by_transfer.insert(id, credit).is_none() {
            self.order.push_back(id);
        }
        true
    }

    /// The credit is written: if its transfer aborted meanwhile, it is
    /// taken, to be reversed now.
    fn sent(&mut self, id: TransferId) -> Option<(String, Message)> {
        let credit = self.by_transfer.get_mut(&id)?;
        credit.sent = true;
        if credit.aborted {
            return self.remove(id);
        }
        None
    }

    /// The transfer aborted: its credit, if written, is taken to be
    /// reversed; one being written is reversed once it is; without one,
    /// the transfer is remembered, so that none is put.
    fn abort(&mut self, id: TransferId) -> Option<(String, Message)> {
        match self.by_transfer.get_mut(&id) {
            Some(credit) if credit.sent => self.remove(id),
            Some(credit) => {
                credit.aborted = true;
                None
            }
            None => {
                while self.aborted.len() >= CREDITED_MAX {
                    let Some(oldest) = self.aborted_order.pop_front() else {
                        break;
                    };
                    self.aborted.remove(&oldest);
                }
                if self.aborted.insert(id) {
                    self.aborted_order.push_back(id);
                }
                None
            }
        }
    }

    fn remove(&mut self, id: TransferId) -> Option<(String, Message)> {
        let taken = self.by_transfer.remove(&id);
        if self.order.len() > 2 * self.by_transfer.len() + 64 {
            let live = &self.by_transfer;
            self.order.retain(|id| live.contains_key(id));
        }
        taken.map(|c| (c.participant, c.message))
    }
}

/// A signed-on connection: its id and its outbox.
type Session = (u64, mpsc::Sender<Message>);

/// The connector, shared by the service layer (which asks it) and the
/// gateway's sessions (which register themselves and hand it the 0210s).
pub struct Iso8583Payees {
    secret: [u8; 32],
    /// Field 32 of the switch's own 0200s.
    institution_id: String,
    /// Signed-on connections, by participant.
    sessions: Mutex<HashMap<String, Vec<Session>>>,
    /// 0200s and 0420s sent, by (STAN, RRN), waiting for their 0210 or
    /// 0430 from the participant they were sent to.
    awaited: Mutex<HashMap<(String, String), Awaited>>,
    /// Credits whose transfer may yet be aborted.
    credited: Mutex<Credits>,
    stan: AtomicU32,
    next_session: AtomicU64,
    /// Itself, to run the reversal of a credit on a task of its own.
    me: Weak<Iso8583Payees>,
}

/// An answer awaited: from whom, and who waits.
type Awaited = (String, oneshot::Sender<Message>);

impl Iso8583Payees {
    /// `secret`: the key the conditions are derived from (the same on
    /// every node that may put a host's transfers); `institution_id`: the
    /// switch's own, in field 32 of its 0200s.
    pub fn new(secret: [u8; 32], institution_id: &str) -> Arc<Iso8583Payees> {
        Arc::new_cyclic(|me| Iso8583Payees {
            me: me.clone(),
            secret,
            institution_id: institution_id.to_string(),
            sessions: Mutex::new(HashMap::new()),
            awaited: Mutex::new(HashMap::new()),
            credited: Mutex::new(Credits::default()),
            stan: AtomicU32::new(1),
            next_session: AtomicU64::new(1),
        })
    }

    /// The next STAN of the gateway's own messages (its 0200 credits and
    /// echo tests).
    pub(crate) fn next_stan(&self) -> String {
        format!(
            "{:06}",
            self.stan.fetch_add(1, Ordering::Relaxed) % 1_000_000
        )
    }

    /// A connection of `participants` signed on: it may be sent 0200s.
    pub(crate) fn signed_on(&self, participants: &[String], outbox: &mpsc::Sender<Message>) -> u64 {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for p in participants {
            sessions
                .entry(p.clone())
                .or_default()
                .push((id, outbox.clone()));
        }
        id
    }

    /// The connection signed off or closed.
    pub(crate) fn signed_off(&self, session: u64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for list in sessions.values_mut() {
            list.retain(|(id, _)| *id != session);
        }
        sessions.retain(|_, list| !list.is_empty());
    }

    /// A host's 0210 or 0430, from a signed-on connection of
    /// `participants`: the answer to one of the switch's 0200s or 0420s to
    /// one of them, or a late, unknown or misdirected one, which changes
    /// nothing.
    pub(crate) fn answered(&self, m: Message, participants: &[&str]) {
        let key = (
            m.text(11).unwrap_or_default().to_string(),
            m.text(37).unwrap_or_default().to_string(),
        );
        let waiter = {
            let mut awaited = self.awaited.lock().unwrap_or_else(|p| p.into_inner());
            match awaited.get(&key) {
                Some((to, _)) if participants.contains(&to.as_str()) => awaited.remove(&key),
                Some((to, _)) => {
                    tracing::warn!(mti = %m.mti, expected = %to, from = ?participants, "iso8583: an answer from a host it was not sent to: ignored");
                    metrics::counter!("harambee_iso8583_misdirected_answers_total").increment(1);
                    return;
                }
                None => None,
            }
        };
        match waiter.map(|(_, w)| w) {
            Some(w) => {
                let _ = w.send(m);
            }
            None => {
                tracing::info!(mti = %m.mti, stan = %key.0, rrn = %key.1, "iso8583: an answer nobody waits for (late or unknown): ignored");
                metrics::counter!("harambee_iso8583_late_answers_total").increment(1);
            }
        }
    }

    /// The fulfilment of the quote `quote_id` of transaction
    /// `transaction_id` to `participant`: HMAC-SHA256 under the host's key.
    fn fulfilment(&self, participant: &str, quote_id: &str, transaction_id: &str) -> [u8; 32] {
        let host_key = hmac(&self.secret, &[b"host", participant.as_bytes()]);
        hmac(
            &host_key,
            &[
                b"fulfilment",
                quote_id.as_bytes(),
                transaction_id.as_bytes(),
            ],
        )
    }

    fn credits(&self) -> std::sync::MutexGuard<'_, Credits> {
        self.credited.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reverses `credit` on a task of its own.
    fn spawn_reversal(&self, participant: String, id: TransferId, credit: Message) {
        let Some(payees) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            payees.reverse_credit(&participant, id, credit).await;
        });
    }

    /// Sends `participant` the reversal advice of `credit` until the host
    /// acknowledges it, at most [`REVERSAL_ATTEMPTS_MAX`] times.
    async fn reverse_credit(&self, participant: &str, id: TransferId, credit: Message) {
        let text = |n: usize| credit.text(n).unwrap_or_default().to_string();
        let stan = self.next_stan();
        let rrn = text(37);
        for attempt in 1..=REVERSAL_ATTEMPTS_MAX {
            let mti: &[u8; 4] = if attempt == 1 { b"0420" } else { b"0421" };
            let mut advice = Message::new(Mti::new(mti).expect("a constant MTI"));
            for n in [3, 4, 12, 13, 32, 37, 49, 102, 103] {
                if let Some(v) = credit.text(n) {
                    advice.set(n, v);
                }
            }
            advice
                .set(7, transmission_time(SystemClock.now_ms()))
                .set(11, &stan)
                .set(
                    90,
                    crate::reversal::OriginalData::format(
                        "0200",
                        &text(11),
                        &text(7),
                        &self.institution_id,
                    ),
                );
            let (tx, rx) = oneshot::channel();
            self.awaited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((stan.clone(), rrn.clone()), (participant.to_string(), tx));
            let sent = match self.outbox_of(participant) {
                Some(outbox) => outbox.send(advice).await.is_ok(),
                None => false,
            };
            let answered = sent
                && matches!(
                    tokio::time::timeout(Duration::from_millis(REVERSAL_ANSWER_MS), rx).await,
                    Ok(Ok(_))
                );
            if answered {
                tracing::info!(transfer = %id, %participant, "iso8583: the host acknowledged the reversal of its credit");
                metrics::counter!("harambee_iso8583_credit_reversals_total", "outcome" => "acknowledged").increment(1);
                return;
            }
            self.awaited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(stan.clone(), rrn.clone()));
            if !sent {
                // No connection: wait for the host to sign on again.
                tokio::time::sleep(Duration::from_millis(REVERSAL_ANSWER_MS)).await;
            }
        }
        tracing::error!(transfer = %id, %participant, rrn = %rrn, "iso8583: a host never acknowledged the reversal of a credit whose transfer aborted: reconcile it by hand");
        metrics::counter!("harambee_iso8583_credit_reversals_total", "outcome" => "unacknowledged")
            .increment(1);
    }

    fn outbox_of(&self, participant: &str) -> Option<mpsc::Sender<Message>> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(participant)?
            .iter()
            .map(|(_, o)| o)
            .find(|o| !o.is_closed())
            .cloned()
    }
}

/// HMAC-SHA256 (RFC 2104) of the length-prefixed `parts`.
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
    inner.update(block.map(|b| b ^ 0x36));
    outer.update(block.map(|b| b ^ 0x5c));
    for p in parts {
        inner.update((p.len() as u32).to_be_bytes());
        inner.update(p);
    }
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn participant(route: &Route) -> Result<&str, SwitchError> {
    match route {
        Route::Iso8583(name) => Ok(name),
        _ => Err(SwitchError::new(
            ErrorCode::DestinationCommunicationError,
            "not a participant on the ISO 8583 gateway",
        )),
    }
}

/// What the gateway puts in the ILP packet of its quotes: the payee's
/// alias, to be its 0200's field 103. (base64url of `MSISDN:<id>`.)
fn packet_of(party: &PartyIdentifier) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("harambee-iso8583:{}", party.id))
}

fn alias_of(packet: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(packet)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let alias = text.strip_prefix("harambee-iso8583:")?;
    is_alias(alias).then(|| alias.to_string())
}

/// Whether `id` fits field 103 as the gateway sends it: an MSISDN of at
/// most 28 digits.
fn is_alias(id: &str) -> bool {
    !id.is_empty() && id.len() <= 28 && id.bytes().all(|b| b.is_ascii_digit())
}

/// An amount in the currency's ISO minor units, as field 4 carries it, if
/// it is a whole number of them.
fn minor_units(amount: Decimal, currency: harambee_ledger::Currency) -> Option<u64> {
    let scaled = amount.checked_mul(Decimal::from(10u64.pow(currency.scale())))?;
    if !scaled.fract().is_zero() || scaled <= Decimal::ZERO {
        return None;
    }
    scaled
        .normalize()
        .to_string()
        .parse::<u64>()
        .ok()
        .filter(|m| *m < 1_000_000_000_000)
}

#[async_trait]
impl PayeeConnector for Iso8583Payees {
    /// Answered on the host's behalf: the directory says the party is the
    /// host's, and a legacy host has no lookup of its own.
    async fn party(
        &self,
        route: &Route,
        party: &PartyIdentifier,
        _requester: &str,
        _timeout: Duration,
    ) -> Result<Party, SwitchError> {
        let owner = participant(route)?;
        Ok(Party {
            identifier: Some(party.clone()),
            fsp_id: owner.to_string(),
            ..Party::default()
        })
    }

    /// Answered on the host's behalf: no fee, the amount asked, and the
    /// condition of the fulfilment the gateway will release on the host's
    /// approval.
    async fn quote(
        &self,
        route: &Route,
        request: &QuoteRequest,
        _timeout: Duration,
    ) -> Result<QuoteTerms, SwitchError> {
        let owner = participant(route)?;
        let money = request
            .amount
            .clone()
            .ok_or_else(|| SwitchError::new(ErrorCode::MissingElement, "amount is required"))?;
        let currency = harambee_ledger::Currency::parse(&money.currency)
            .map_err(|e| SwitchError::new(ErrorCode::ValidationError, e.to_string()))?;
        let amount: Decimal = money
            .amount
            .parse()
            .map_err(|_| SwitchError::new(ErrorCode::ValidationError, "amount"))?;
        if minor_units(amount, currency).is_none() {
            return Err(SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                format!("{owner} takes whole {currency} minor units"),
            ));
        }
        let party = request
            .payee
            .as_ref()
            .and_then(|p| p.identifier.clone())
            .ok_or_else(|| SwitchError::new(ErrorCode::MissingElement, "payee is required"))?;
        if !is_alias(&party.id) {
            return Err(SwitchError::new(
                ErrorCode::PayeeRejectedQuote,
                format!("{owner} is paid to MSISDNs of at most 28 digits"),
            ));
        }
        let fulfilment = self.fulfilment(owner, &request.quote_id, &request.transaction_id);
        // As long as the payer asked, or a minute.
        let expiration = request.expiration.unwrap_or_else(|| {
            harambee_proto::validate::timestamp(SystemClock.now_ms() + QUOTE_VALID_MS)
        });
        Ok(QuoteTerms {
            transfer_amount: Some(money.clone()),
            payee_receive_amount: Some(money),
            expiration: Some(expiration),
            ilp_packet: packet_of(&party),
            condition: harambee_core::text::b64url(&Sha256::digest(fulfilment).into()),
            ..QuoteTerms::default()
        })
    }

    /// A 0200 credit to the host, on one of its signed-on connections; the
    /// fulfilment on its 0210 with 39=00, a rejection on any other code,
    /// no answer within `timeout`.
    async fn transfer(&self, route: &Route, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer {
        let Ok(owner) = participant(route) else {
            return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
        };
        let fulfilment = self.fulfilment(owner, &ask.terms.quote_id, &ask.terms.transaction_id);
        let condition: [u8; 32] = Sha256::digest(fulfilment).into();
        let (Some(alias), Some(minor), true) = (
            alias_of(&ask.terms.ilp_packet),
            minor_units(ask.amount, ask.currency),
            condition == ask.condition,
        ) else {
            // Not terms this gateway gave: the host is never asked.
            return PayeeAnswer::Rejected(ErrorCode::PayeeRejectedTransaction.number());
        };
        let Some(outbox) = self.outbox_of(owner) else {
            return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
        };
        let stan = self.next_stan();
        let rrn = format!("{:012}", ask.transfer_id.0 % 1_000_000_000_000);
        let now = transmission_time(SystemClock.now_ms());
        let mut credit = Message::new(Mti::new(b"0200").expect("a constant MTI"));
        credit
            .set(3, "400000")
            .set(4, format!("{minor:012}"))
            .set(7, &now)
            .set(11, &stan)
            .set(12, &now[4..])
            .set(13, &now[..4])
            .set(32, &self.institution_id)
            .set(37, &rrn)
            .set(49, format!("{:03}", ask.currency.numeric()))
            .set(102, ask.payer.chars().take(28).collect::<String>())
            .set(103, &alias);
        let (tx, rx) = oneshot::channel();
        {
            let mut awaited = self.awaited.lock().unwrap_or_else(|p| p.into_inner());
            if awaited.len() >= AWAITED_MAX {
                return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
            }
            awaited.insert((stan.clone(), rrn.clone()), (owner.to_string(), tx));
        }
        let forget_waiter = |stan: String, rrn: String| {
            self.awaited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(stan, rrn));
        };
        if !self.credits().begin(ask.transfer_id, owner, credit.clone()) {
            // Aborted already (its payer withdrew it): never put.
            forget_waiter(stan, rrn);
            return PayeeAnswer::Rejected(ErrorCode::PayerRejection.number());
        }
        if outbox.send(credit).await.is_err() {
            self.credits().remove(ask.transfer_id);
            forget_waiter(stan, rrn);
            return PayeeAnswer::Unreachable(ErrorCode::DestinationCommunicationError.number());
        }
        if let Some((participant, credit)) = self.credits().sent(ask.transfer_id) {
            // It aborted while the credit was being written.
            self.spawn_reversal(participant, ask.transfer_id, credit);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) if answer.text(39) == Some("00") => PayeeAnswer::Fulfilled(fulfilment),
            Ok(Ok(answer)) => {
                // Declined: the host credited nothing, so there is nothing
                // to reverse.
                self.credits().remove(ask.transfer_id);
                tracing::info!(transfer = %ask.transfer_id, code = ?answer.text(39), "iso8583: the host declined a credit");
                PayeeAnswer::Rejected(ErrorCode::PayeeRejectedTransaction.number())
            }
            Ok(Err(_)) | Err(_) => {
                // Given up: a 0210 after this changes nothing.
                self.awaited
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(stan, rrn));
                PayeeAnswer::NoAnswer
            }
        }
    }
}

/// The outcomes of transfers put to hosts: a committed one's credit
/// stands; an aborted one's is reversed (a 0420 advice to the host).
///
/// Notices come from the switch's writer, so a transfer's host is told on
/// the node that wrote its outcome; in a cluster, the node that put the
/// credit keeps it (see docs/ISO8583.md).
pub struct Iso8583Notices(pub Arc<Iso8583Payees>);

impl Notices for Iso8583Notices {
    fn deliver(&self, _participant: &str, _route: &Route, notification: Notification) {
        let (result, aborted) = match notification.kind {
            Some(Kind::TransferCommitted(t)) => (t, false),
            Some(Kind::TransferAborted(t)) => (t, true),
            _ => return,
        };
        let Some(id) = harambee_core::text::parse_uuid(&result.transfer_id) else {
            return;
        };
        let id = TransferId(id);
        if !aborted {
            self.0.credits().remove(id);
            return;
        }
        let taken = self.0.credits().abort(id);
        if let Some((participant, credit)) = taken {
            self.0.spawn_reversal(participant, id, credit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_hmac_sha256_of_the_length_prefixed_parts() {
        // Python: hmac.new(bytes([1]*32), struct.pack('>I', 1) + b'x',
        // hashlib.sha256).hexdigest()
        let want = "2dd5b05a079ad58a60a865d7ca7256edb041ba7a838e964825832eecce8c862e";
        let got: String = hmac(&[1; 32], &[b"x"])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        assert_ne!(
            hmac(&[1; 32], &[b"ab", b"c"]),
            hmac(&[1; 32], &[b"a", b"bc"])
        );
    }

    #[test]
    fn the_packet_carries_the_alias_and_amounts_are_whole_minor_units() {
        let party = PartyIdentifier {
            r#type: 1,
            id: "254700000001".into(),
            sub_id: String::new(),
        };
        assert_eq!(
            alias_of(&packet_of(&party)).as_deref(),
            Some("254700000001")
        );
        assert_eq!(alias_of("bm90IG91cnM"), None);
        let kes = harambee_ledger::Currency::parse("KES").expect("KES");
        assert_eq!(minor_units(Decimal::new(1050, 2), kes), Some(1050));
        assert_eq!(minor_units(Decimal::new(10, 0), kes), Some(1000));
        assert_eq!(minor_units(Decimal::new(601234, 4), kes), None);
    }
}
