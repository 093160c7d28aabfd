//! The transfer saga, driven by the log.
//!
//! ```text
//! prepare ──log──> RESERVED ──ask the payee──> fulfilment ──log──> COMMITTED
//!                     │                 │      rejection  ──log──> ABORTED
//!                     │                 └───── "later": the payee's own
//!                     │                        FulfilTransfer ──log──> …
//!                     └── its expiry passes: the sweep's ExpireDue ──log──> ABORTED (3303)
//! ```
//!
//! Each step is a record; nothing but a record moves a transfer on. So a
//! transfer never depends on the task that asked the payee: if that task is
//! gone (a restart, a payer that hung up), the payee's later answer or the
//! expiry still resolves it, and every node of a cluster sees the same.

use std::sync::Arc;
use std::time::Duration;

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::{LedgerCommand, LogRecord, ParticipantRef, PrepareTerms};
use harambee_core::state::Applied;
use harambee_engine::engine::Engine;
use harambee_ledger::{
    Currency, FundsId, FundsState, Reply, TransferId, TransferRecord, TransferState,
};
use rust_decimal::Decimal;

use crate::Settings;
use crate::ports::{Clock, PayeeAnswer, PayeeConnector, Route, TransferAsk};

/// How long a waiting caller waits past the expiry for the sweep to expire
/// an unanswered transfer (plus two sweep intervals).
pub const EXPIRY_GRACE_MS: i64 = 5_000;

/// How often an answer is tried again while the log (or a cluster's
/// writer) is briefly unavailable.
pub const ANSWER_RETRY_MS: u64 = 200;

/// Most payees asked at once when a restart resumes reserved transfers.
pub const RESUME_CONCURRENCY_MAX: usize = 64;

/// What asking the payee came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// The payee answered and the answer was logged, or could not be
    /// before the transfer's expiry (the log was down): waiting longer
    /// brings nothing the log does not have.
    Answered,
    /// Nothing was logged: the payee answers later, or did not answer in
    /// time. The transfer is resolved by a later record.
    Pending,
}

/// The payee's answer to a transfer, given in a request of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The fulfilment: commits if it matches the condition, else aborts
    /// with 3100.
    Fulfil([u8; 32]),
    /// A rejection with this FSPIOP code: aborts.
    Reject(u16),
}

/// A payer's transfer, as an adapter has checked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepare {
    pub transfer_id: TransferId,
    /// The payee participant's name.
    pub payee: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub condition: [u8; 32],
    pub expires_at_ms: i64,
    /// What the payer sent for the payee (ILP packet, quote and
    /// transaction ids, extensions).
    pub terms: PrepareTerms,
}

/// A transfer as its payer or payee sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferView {
    pub record: TransferRecord,
    /// The record's amount as a decimal.
    pub amount: rust_decimal::Decimal,
    pub payer: String,
    pub payee: String,
}

/// How the directory says `name` is reached: its gRPC `PayeeCallback`
/// (or, for an endpoint `iso8583:<institution id>`, the ISO 8583 gateway)
/// if it has one, else its FSPIOP endpoints if it has any.
pub fn route_of(st: &harambee_core::state::State, name: &str) -> Option<Route> {
    if let Some(url) = st.directory.endpoint(name) {
        if url.starts_with(ISO8583_ENDPOINT) {
            return Some(Route::Iso8583(name.to_string()));
        }
        return Some(Route::Grpc(url.to_string()));
    }
    let urls: Vec<(String, String)> = st
        .directory
        .callbacks(name)
        .map(|(k, u)| (k.to_string(), u.to_string()))
        .collect();
    (!urls.is_empty()).then(|| {
        Route::Fspiop(crate::ports::FspiopEndpoints {
            participant: name.to_string(),
            urls,
        })
    })
}

/// The scheme of a legacy host's endpoint: `iso8583:<institution id>`.
pub const ISO8583_ENDPOINT: &str = "iso8583:";

/// 3208 for a transfer the ledger does not hold.
/// Whether a prepare was its transfer's first, as the ledger took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// The first: this prepare reserved (or was refused) the transfer.
    No,
    /// A repeat of a transfer that was still in progress; its view is
    /// the outcome, once final.
    InProgress,
    /// A repeat of a transfer that was already final.
    OfFinal,
}

fn not_found(_id: TransferId) -> SwitchError {
    SwitchError::new(
        ErrorCode::TransferNotFound,
        // Mojaloop's wording, word for word (its tests compare it whole);
        // the id is the caller's own, in the path it asked.
        "Provided Transfer ID was not found on the server.",
    )
}

/// The transfer flow of the service layer.
pub struct Transfers {
    engine: Engine,
    payee: Arc<dyn PayeeConnector>,
    clock: Arc<dyn Clock>,
    callback_timeout_ms: u64,
    sweep_interval_ms: u64,
    lifetime_max_ms: i64,
    /// Turns true when the switch stops: waiting callers are answered then.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Transfers {
    pub fn new(
        engine: Engine,
        payee: Arc<dyn PayeeConnector>,
        clock: Arc<dyn Clock>,
        settings: &Settings,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Transfers {
        Transfers {
            engine,
            payee,
            clock,
            callback_timeout_ms: settings.callback_timeout_ms,
            sweep_interval_ms: settings.expiry_sweep_interval_ms,
            lifetime_max_ms: i64::try_from(settings.transfer_lifetime_max_ms).unwrap_or(i64::MAX),
            stop,
        }
    }

    /// A payer's transfer, reserved and then put to the payee; answers
    /// once it is final (or, if the payee answers later, once the record
    /// that resolves it is logged). A repeat of the same transfer waits
    /// for the same outcome. A business refusal (limits, an inactive
    /// payee) is a final ABORTED transfer; a bad request changes nothing.
    pub async fn prepare(
        self: &Arc<Self>,
        payer: &str,
        prepare: Prepare,
    ) -> Result<TransferView, SwitchError> {
        self.prepare_noting_repeat(payer, prepare)
            .await
            .map(|(view, _)| view)
    }

    /// [`Transfers::prepare`], saying whether the ledger took it as a
    /// repeat of a transfer it already had, and in what state (an FSPIOP
    /// hub ignores a repeat of a transfer in progress, and answers a repeat
    /// of a final one itself).
    pub async fn prepare_noting_repeat(
        self: &Arc<Self>,
        payer: &str,
        prepare: Prepare,
    ) -> Result<(TransferView, Repeat), SwitchError> {
        let Prepare {
            transfer_id: id,
            payee,
            amount,
            currency,
            condition,
            expires_at_ms,
            terms,
        } = prepare;
        let lifetime_max_ms = self.lifetime_max_ms;
        if expires_at_ms.saturating_sub(self.clock.now_ms()) > lifetime_max_ms {
            return Err(SwitchError::new(
                ErrorCode::ValidationError,
                format!(
                    "expiration: more than {lifetime_max_ms} ms ahead; the scheme holds funds for a transfer at most that long"
                ),
            ));
        }
        {
            let st = self.engine.read()?;
            if st.ledger.participant_by_name(payer).is_none() {
                return Err(SwitchError::new(
                    ErrorCode::PayerFspNotFound,
                    "payer is not a participant",
                ));
            }
            if st.ledger.participant_by_name(&payee).is_none() {
                return Err(SwitchError::new(
                    ErrorCode::DestinationFspError,
                    format!("payee {payee} is not a participant"),
                ));
            }
        }
        let command = LedgerCommand::Prepare {
            transfer_id: id,
            payer: ParticipantRef::name(payer),
            payee: ParticipantRef::name(payee.as_str()),
            currency,
            amount,
            condition,
            expires_at_ms,
            now_ms: self.clock.now_ms(),
            terms: terms.clone(),
        };
        let outcome = match self.engine.submit(LogRecord::Ledger(command)).await? {
            Applied::Ledger { outcome } => outcome,
            Applied::Directory(_) | Applied::Settlement { .. } => {
                return Err(crate::unexpected());
            }
        };
        match outcome.result {
            Err(e) => {
                // A recorded business refusal is a final ABORTED transfer;
                // anything else was a bad request and changed nothing.
                let refused = self
                    .engine
                    .read()?
                    .ledger
                    .transfer(id)
                    .is_some_and(|t| t.state == TransferState::Refused);
                if refused {
                    let repeat = if outcome.duplicate {
                        Repeat::OfFinal
                    } else {
                        Repeat::No
                    };
                    return Ok((self.view(payer, id)?, repeat));
                }
                Err(SwitchError::from_number(e.code(), e.to_string()))
            }
            Ok(Reply::Transfer { state, .. }) if state.is_final() => {
                let repeat = if outcome.duplicate {
                    Repeat::OfFinal
                } else {
                    Repeat::No
                };
                Ok((self.view(payer, id)?, repeat))
            }
            Ok(_) if outcome.duplicate => {
                self.wait_final(id, expires_at_ms).await?;
                Ok((self.view(payer, id)?, Repeat::InProgress))
            }
            Ok(_) => {
                // The payee's part runs on its own: a payer that gives up
                // (or whose call is cancelled) does not cut it short.
                let ask = TransferAsk {
                    transfer_id: id,
                    payer: payer.to_string(),
                    payee,
                    amount,
                    currency,
                    condition,
                    expires_at_ms,
                    terms,
                };
                let transfers = self.clone();
                let asked = tokio::spawn(async move { transfers.ask_payee(&ask).await });
                // Most payees answer in the callback: once that answer is
                // logged the transfer is final (and if the log could not
                // take it, the payer hears the state as it is). Only a
                // payee that answers later, or not at all, leaves the payer
                // waiting for the record that resolves the transfer.
                if let Ok(Asked::Pending) = asked.await {
                    self.wait_final(id, expires_at_ms).await?;
                }
                Ok((self.view(payer, id)?, Repeat::No))
            }
        }
    }

    /// The payee's own answer to a transfer (`FulfilTransfer`), and the
    /// transfer after it.
    pub async fn fulfil(
        &self,
        caller: &str,
        id: TransferId,
        answer: Answer,
    ) -> Result<TransferView, SwitchError> {
        self.answer(caller, id, answer).await?;
        self.view(caller, id)
    }

    /// The transfer as `caller` may see it: only its payer and its payee
    /// may.
    pub fn view(&self, caller: &str, id: TransferId) -> Result<TransferView, SwitchError> {
        let st = self.engine.read()?;
        let t = st.ledger.transfer(id).ok_or_else(|| not_found(id))?;
        let name = |id| {
            st.ledger
                .participant_name(id)
                .map(str::to_string)
                .unwrap_or_default()
        };
        let (payer, payee) = (name(t.payer), name(t.payee));
        if caller != payer && caller != payee {
            return Err(SwitchError::new(
                ErrorCode::GenericClientError,
                "only the payer or payee may read a transfer",
            ));
        }
        Ok(TransferView {
            record: t.clone(),
            amount: st.ledger.decimal(t.currency, t.amount),
            payer,
            payee,
        })
    }

    /// The state of the funds in or out `id` of the participant `caller`
    /// (Mojaloop answers `GET /transfers/{ID}` for these too): 3208 if it
    /// has none by that id.
    pub fn funds_state(&self, caller: &str, id: TransferId) -> Result<FundsState, SwitchError> {
        let st = self.engine.read()?;
        let caller = st.ledger.participant_by_name(caller).map(|p| p.id);
        st.ledger
            .funds(FundsId(id.0))
            .filter(|f| Some(f.participant) == caller)
            .map(|f| f.state)
            .ok_or_else(|| not_found(id))
    }

    /// 3201 if the participant `name` has accounts in `currency` the
    /// operator deactivated: it can be paid nothing in the currency, so it
    /// is not asked to quote in it either.
    pub fn payable_in(&self, name: &str, currency: Currency) -> Result<(), SwitchError> {
        let st = self.engine.read()?;
        let Some(p) = st.ledger.participant_by_name(name) else {
            return Ok(());
        };
        let Some(pc) = st.ledger.participant_currency(p.id, currency) else {
            return Ok(());
        };
        let active = |id| st.ledger.account(id).is_some_and(|a| a.active);
        if active(pc.position) && active(pc.settlement) {
            return Ok(());
        }
        Err(SwitchError::new(
            ErrorCode::DestinationFspError,
            format!("Unsupported participant: {name}'s {currency} account is inactive"),
        ))
    }

    /// How to reach `name`, if it is an active participant with an
    /// endpoint.
    pub fn endpoint(&self, name: &str) -> Result<Route, SwitchError> {
        let st = self.engine.read()?;
        let active = st
            .ledger
            .participant_by_name(name)
            .is_some_and(|p| p.active);
        if !active {
            return Err(SwitchError::new(
                ErrorCode::DestinationFspError,
                // Mojaloop's words first ("Destination FSP Error -
                // Unsupported participant"), then which and why.
                format!("Unsupported participant: {name} is unknown or inactive"),
            ));
        }
        route_of(&st, name).ok_or_else(|| {
            SwitchError::new(
                ErrorCode::DestinationFspError,
                format!("participant {name} has no callback endpoint"),
            )
        })
    }

    /// The saga's step after a reserve: asks the payee, and logs its answer
    /// if it gave one. An answer left for later, or none, leaves the
    /// transfer reserved, for the payee's own answer or the expiry.
    pub async fn ask_payee(&self, ask: &TransferAsk) -> Asked {
        let started = std::time::Instant::now();
        let id = ask.transfer_id;
        let now = self.clock.now_ms();
        let reason = |code: u16| LedgerCommand::Abort {
            transfer_id: id,
            reason: code,
            now_ms: self.clock.now_ms(),
        };
        let command = match self.endpoint(&ask.payee) {
            Err(e) => Some(reason(e.code.number())),
            Ok(url) => {
                // Bounded by the callback timeout, and by the expiry.
                let until_expiry_ms = (ask.expires_at_ms - now).max(1) as u64;
                let timeout = Duration::from_millis(until_expiry_ms.min(self.callback_timeout_ms));
                match self.payee.transfer(&url, ask, timeout).await {
                    PayeeAnswer::Fulfilled(fulfilment) => Some(LedgerCommand::Commit {
                        transfer_id: id,
                        fulfilment,
                        now_ms: self.clock.now_ms(),
                    }),
                    PayeeAnswer::Malformed => Some(reason(ErrorCode::ValidationError.number())),
                    PayeeAnswer::Rejected(code) => Some(reason(code)),
                    PayeeAnswer::Later => {
                        tracing::debug!(transfer = %id, payee = %ask.payee, "the payee answers later");
                        metrics::counter!("harambee_payee_deferred_total").increment(1);
                        None
                    }
                    PayeeAnswer::Unreachable(code) if self.clock.now_ms() < ask.expires_at_ms => {
                        Some(reason(code))
                    }
                    PayeeAnswer::NoAnswer | PayeeAnswer::Unreachable(_) => {
                        // The switch gives up on the payee. The transfer
                        // stays reserved until its expiry, when the sweep
                        // aborts it (3303) and both sides are told; an
                        // answer of the payee's own before then still counts.
                        tracing::info!(transfer = %id, payee = %ask.payee, "the payee did not answer within the callback timeout");
                        metrics::counter!("harambee_payee_timeouts_total").increment(1);
                        None
                    }
                }
            }
        };
        metrics::histogram!("harambee_payee_callback_seconds")
            .record(started.elapsed().as_secs_f64());
        match command {
            Some(command) => {
                self.record(id, command, ask.expires_at_ms).await;
                Asked::Answered
            }
            None => Asked::Pending,
        }
    }

    /// After a start: asks the payee again for every transfer still
    /// reserved and not yet expired, since whatever asked it before the
    /// restart is gone; a payee that answers the same transfer twice gives
    /// the same answer, and the log keeps the first. An expired one is left
    /// to the expiry sweep, which aborts it (3303). Returns how many
    /// payees are asked; they are asked in the background.
    pub fn resume(self: &Arc<Self>) -> usize {
        let now = self.clock.now_ms();
        let asks: Vec<TransferAsk> = match self.engine.read() {
            Err(_) => return 0,
            Ok(st) => st
                .ledger
                .in_flight()
                .filter(|(_, expires_at_ms)| *expires_at_ms > now)
                .filter_map(|(id, _)| {
                    let t = st.ledger.transfer(id)?;
                    let name = |p| st.ledger.participant_name(p).map(str::to_string);
                    Some(TransferAsk {
                        transfer_id: id,
                        payer: name(t.payer)?,
                        payee: name(t.payee)?,
                        amount: st.ledger.decimal(t.currency, t.amount),
                        currency: t.currency,
                        condition: t.condition,
                        expires_at_ms: t.expires_at_ms,
                        terms: st.pending_terms.get(&id).cloned().unwrap_or_default(),
                    })
                })
                .collect(),
        };
        let count = asks.len();
        if count > 0 {
            tracing::info!(
                transfers = count,
                "asking payees again for the transfers reserved before the start"
            );
            metrics::counter!("harambee_transfers_resumed_total").increment(count as u64);
            let transfers = self.clone();
            tokio::spawn(async move {
                use futures::StreamExt;
                futures::stream::iter(asks)
                    .for_each_concurrent(RESUME_CONCURRENCY_MAX, |ask| {
                        let transfers = transfers.clone();
                        async move {
                            transfers.ask_payee(&ask).await;
                        }
                    })
                    .await;
            });
        }
        count
    }

    /// The payee's answer given in a request of its own (`caller` is the
    /// authenticated participant). Only the transfer's payee may answer. A
    /// transfer already final keeps its outcome: the same answer again is
    /// answered with it, a different one is refused (3106) and changes
    /// nothing.
    pub async fn answer(
        &self,
        caller: &str,
        id: TransferId,
        answer: Answer,
    ) -> Result<(), SwitchError> {
        {
            let st = self.engine.read()?;
            let t = st.ledger.transfer(id).ok_or_else(|| not_found(id))?;
            let payee = st.ledger.participant_name(t.payee).unwrap_or_default();
            if payee != caller {
                return Err(SwitchError::new(
                    ErrorCode::GenericClientError,
                    "only the transfer's payee may answer it",
                ));
            }
        }
        let now = self.clock.now_ms();
        let command = match answer {
            Answer::Fulfil(fulfilment) => LedgerCommand::Commit {
                transfer_id: id,
                fulfilment,
                now_ms: now,
            },
            Answer::Reject(reason) => LedgerCommand::Abort {
                transfer_id: id,
                reason,
                now_ms: now,
            },
        };
        let applied = self.engine.submit(LogRecord::Ledger(command)).await?;
        let Applied::Ledger { outcome } = applied else {
            return Err(crate::unexpected());
        };
        match outcome.result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::ModifiedRequest.number() => {
                Err(SwitchError::from_number(e.code(), e.to_string()))
            }
            Err(e) => {
                // A late answer to a final transfer learns its outcome.
                let st = self.engine.read()?;
                if st.ledger.transfer(id).is_some_and(|t| t.state.is_final()) {
                    Ok(())
                } else {
                    Err(SwitchError::from_number(e.code(), e.to_string()))
                }
            }
        }
    }

    /// The payer withdraws a transfer it made (an ISO 8583 reversal): a
    /// transfer still reserved is aborted with 4100 (the payer's
    /// rejection), and both sides are told as of any abort; a final one
    /// keeps its outcome (a committed instant transfer is irrevocable).
    /// Only the payer may. Answers the transfer as it then is.
    pub async fn withdraw(
        &self,
        caller: &str,
        id: TransferId,
    ) -> Result<TransferView, SwitchError> {
        let view = self.view(caller, id)?;
        if view.payer != caller {
            return Err(SwitchError::new(
                ErrorCode::GenericClientError,
                "only the transfer's payer may withdraw it",
            ));
        }
        if view.record.state != TransferState::Reserved {
            return Ok(view);
        }
        let command = LedgerCommand::Abort {
            transfer_id: id,
            reason: ErrorCode::PayerRejection.number(),
            now_ms: self.clock.now_ms(),
        };
        let applied = self.engine.submit(LogRecord::Ledger(command)).await?;
        let Applied::Ledger { .. } = applied else {
            return Err(crate::unexpected());
        };
        // Whatever was logged first (the payee's answer, the expiry or
        // this) decided the transfer.
        self.view(caller, id)
    }

    /// Waits until the transfer is final, or past the time its expiry is
    /// sure to have been applied. If the switch stops meanwhile, answers
    /// 2003 at once (a graceful stop does not wait for transfers): the
    /// caller repeats the request and learns the outcome.
    pub async fn wait_final(&self, id: TransferId, expires_at_ms: i64) -> Result<(), SwitchError> {
        let mut applied = self.engine.feed().watch_applied();
        let mut stop = self.stop.clone();
        let deadline = expires_at_ms + EXPIRY_GRACE_MS + self.sweep_interval_ms as i64 * 2;
        loop {
            let reserved = self
                .engine
                .read()?
                .ledger
                .transfer(id)
                .is_some_and(|t| t.state == TransferState::Reserved);
            if !reserved {
                return Ok(());
            }
            let left = deadline - self.clock.now_ms();
            if left <= 0 {
                return Ok(());
            }
            let changed = tokio::select! {
                changed = tokio::time::timeout(Duration::from_millis(left as u64), applied.changed()) => changed,
                _ = stop.wait_for(|s| *s) => {
                    return Err(SwitchError::new(
                        ErrorCode::ServiceUnavailable,
                        "the switch is stopping: repeat the request to learn the outcome",
                    ));
                }
            };
            match changed {
                Err(_) => return Ok(()),
                Ok(Err(_)) => {
                    return Err(SwitchError::new(
                        ErrorCode::ServiceUnavailable,
                        "the engine stopped",
                    ));
                }
                Ok(Ok(())) => {}
            }
        }
    }

    /// Logs an answer, trying again while the log is briefly unavailable
    /// (as during a cluster's takeover) until the transfer expires. If it
    /// cannot be logged, the transfer stays reserved and the expiry sweep
    /// aborts it once the log is back.
    async fn record(&self, id: TransferId, command: LedgerCommand, expires_at_ms: i64) {
        let record = LogRecord::Ledger(command);
        loop {
            match self.engine.submit(record.clone()).await {
                Ok(_) => break,
                Err(e)
                    if e.code == ErrorCode::ServiceUnavailable
                        && self.clock.now_ms() < expires_at_ms =>
                {
                    metrics::counter!("harambee_answer_retries_total").increment(1);
                    tokio::time::sleep(Duration::from_millis(ANSWER_RETRY_MS)).await;
                }
                Err(e) => {
                    tracing::warn!(transfer = %id, error = %e, "could not record the payee's answer");
                    break;
                }
            }
        }
    }
}
