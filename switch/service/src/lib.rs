//! # harambee-service
//!
//! The service layer: the switch's flows on domain types, for every
//! transport. An adapter (the gRPC API today; FSPIOP REST and ISO 8583
//! next) translates its protocol onto these calls and their answers back;
//! it never drives the engine, the log or the read side itself, and this
//! crate is the only way it reaches them.
//!
//! What the flows need from outside comes through ports ([`ports`]): the
//! participant's side of a lookup, quote or transfer
//! ([`ports::PayeeConnector`]), the external oracles ([`ports::Oracle`]),
//! the delivery of notices ([`ports::Notices`]), the clock
//! ([`ports::Clock`]) and every credential check
//! ([`ports::Authenticator`], implemented by [`auth`]).
//!
//! - [`lookups`]: who owns a party, and the owner's details of it;
//!   parties registered and deregistered.
//! - [`quotes`]: a quote asked of the payee, checked and recorded once
//!   per quote id; a quote read back.
//! - [`transfers`]: the transfer saga. It is driven by the log: a
//!   reserved transfer is resolved only by a record (the payee's
//!   fulfilment or rejection, an expiry), whoever brings it: the payee's
//!   answer to the callback, a later `FulfilTransfer` of its own, or the
//!   expiry sweep. A caller that waits for the final state (gRPC) waits
//!   for that record; one answered later by callback does not wait.
//! - [`operations`]: the hub operator's commands (participants, limits,
//!   funds, oracles, settlement) and reads.
//! - [`notices`]: notices as they happen, to each participant's stream and
//!   through the [`ports::Notices`] port, and the stream of one
//!   participant's notices from a number on.
//! - [`sweep`]: the expiry of reserved transfers and held quotes.
//! - [`admission`]: each participant's limits on requests in flight and
//!   a second (2005 over them).
//!
//! Where a message holds parts the switch passes on without reading them
//! (a party's details, a quote request's transaction type, the payee's
//! terms), the flows carry them as the canonical messages of
//! `harambee.v1` (`harambee_proto::v1`): data, not transport. The service
//! layer depends on no transport crate (tonic, an HTTP server): it uses
//! the messages of `harambee-proto`, never its clients or servers, which
//! `tests/tests/architecture.rs` checks.
//!
//! Architecture invariant: the service layer returns [`SwitchError`]s with
//! named codes; each adapter maps them once, at its edge.
//!
//! [`SwitchError`]: harambee_core::error::SwitchError

use std::sync::{Arc, RwLockReadGuard};

use harambee_core::error::SwitchError;
use harambee_core::state::State;
use harambee_engine::Engine;
use harambee_log::audit::{OperatorAction, TRAIL_RECORDS_PER_REFRESH_MAX, Trail, TrailStatus};
use harambee_read::projection::ProjectionStore;
use tokio::sync::{broadcast, watch};

pub mod admission;
pub mod auth;
pub mod certificates;
pub mod lookups;
pub mod notices;
pub mod operations;
pub mod ports;
pub mod quotes;
pub mod sweep;
pub mod transfers;

/// The rows of the read side an operator's list reads, as the service
/// hands them to an adapter.
pub mod rows {
    pub use harambee_read::projection::{
        PostingQuery, PostingRow, QuoteRow, TransferQuery, TransferRow, account_type_name,
        phase_name, state_name,
    };
    pub use harambee_read::reports::settlement_report;
}

use ports::{Authenticator, Clock, Credential, Oracle, PayeeConnector, Principal, Role};
use transfers::Transfers;

/// The scheme's rules the flows apply, from the switch's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Deadline of a lookup at an oracle and at the party's owner.
    pub lookup_timeout_ms: u64,
    /// Party types the built-in oracle (parties registered with the
    /// switch) serves; other types need an oracle of their own.
    pub builtin_oracle_party_types: Vec<String>,
    /// Deadline of a quote at the payee.
    pub quote_timeout_ms: u64,
    /// How long past its expiry a held quote is kept in memory.
    pub quote_grace_ms: u64,
    /// Longest a quote is held in memory, whatever its expiry.
    pub quote_held_max_ms: u64,
    /// Deadline of a transfer at the payee.
    pub callback_timeout_ms: u64,
    /// How often reserved transfers past their expiry are expired.
    pub expiry_sweep_interval_ms: u64,
    /// Longest a transfer may hold the payer's funds.
    pub transfer_lifetime_max_ms: u64,
    /// Each participant's limits on requests in flight and a second.
    pub admission: admission::AdmissionSettings,
}

/// What the service layer needs from outside, wired by the binary.
pub struct Ports {
    pub payees: Arc<dyn PayeeConnector>,
    pub oracle: Arc<dyn Oracle>,
    pub authenticator: Arc<dyn Authenticator>,
    pub clock: Arc<dyn Clock>,
    /// The log's audit trail (its hash chain and operator actions), where
    /// this switch can read its log.
    pub audit: Option<Arc<Trail>>,
}

/// Notices waiting on the live path for the streams; a stream that falls
/// further behind fills the gap from the notices projection.
pub const NOTICE_BUS_DEPTH: usize = 4_096;

/// The service layer of one switch: every flow, for every adapter.
pub struct Service {
    engine: Engine,
    projections: Arc<dyn ProjectionStore>,
    payees: Arc<dyn PayeeConnector>,
    oracle: Arc<dyn Oracle>,
    authenticator: Arc<dyn Authenticator>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<Trail>>,
    settings: Settings,
    /// Each participant's requests, limited apart from the others'.
    admission: admission::Admission,
    /// The transfer saga.
    pub transfers: Arc<Transfers>,
    /// The live path of notices (see [`notices`]).
    bus: broadcast::Sender<notices::Notice>,
}

/// What [`Service::health`] finds: each store fine, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The log: it takes appends.
    pub log: Result<(), String>,
    /// The state: it can be read.
    pub state: Result<(), String>,
}

impl Health {
    /// Both stores are fine.
    pub fn ok(&self) -> bool {
        self.log.is_ok() && self.state.is_ok()
    }
}

impl Service {
    /// A service over `engine` and the read side's `projections`. `stop`
    /// turns true when the switch stops: waiting callers are answered then.
    pub fn new(
        engine: Engine,
        projections: Arc<dyn ProjectionStore>,
        ports: Ports,
        settings: Settings,
        stop: watch::Receiver<bool>,
    ) -> Arc<Service> {
        let transfers = Arc::new(Transfers::new(
            engine.clone(),
            ports.payees.clone(),
            ports.clock.clone(),
            &settings,
            stop,
        ));
        let (bus, _) = broadcast::channel(NOTICE_BUS_DEPTH);
        Arc::new(Service {
            engine,
            projections,
            payees: ports.payees,
            oracle: ports.oracle,
            authenticator: ports.authenticator,
            clock: ports.clock,
            audit: ports.audit,
            admission: admission::Admission::new(settings.admission),
            settings,
            transfers,
            bus,
        })
    }

    /// The log's hash chain, verified on from where the last call
    /// stopped (up to [`TRAIL_RECORDS_PER_REFRESH_MAX`] records a call);
    /// `None` where this switch has no log to read.
    pub async fn verify_log_chain(&self) -> Result<Option<TrailStatus>, SwitchError> {
        let Some(trail) = &self.audit else {
            return Ok(None);
        };
        trail
            .refresh(TRAIL_RECORDS_PER_REFRESH_MAX)
            .await
            .map(Some)
            .map_err(|e| {
                SwitchError::new(
                    harambee_core::error::ErrorCode::ServiceUnavailable,
                    format!("event log: {e}"),
                )
            })
    }

    /// The most recent operator actions in the log (after bringing the
    /// trail up to date), of `operator` only if given; and how many the
    /// switch keeps.
    pub async fn operator_actions(
        &self,
        operator: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<OperatorAction>, usize), SwitchError> {
        let Some(trail) = &self.audit else {
            return Ok((Vec::new(), 0));
        };
        self.verify_log_chain().await?;
        Ok(trail.operator_actions(operator, limit).await)
    }

    /// The principal a credential proves, acting as `role`: the one
    /// credential check of every adapter.
    pub fn authenticate(
        &self,
        credential: Credential<'_>,
        role: Role,
    ) -> Result<Principal, SwitchError> {
        self.authenticator.authenticate(credential, role)
    }

    /// The operator `credential` proves, acting for `call`, which needs
    /// `need`: 3105 if it proves no operator, 3000 if the operator holds no
    /// role that may make the call.
    pub fn operator(
        &self,
        credential: Credential<'_>,
        need: ports::Need,
        call: &str,
    ) -> Result<ports::Acting, SwitchError> {
        match self.authenticate(credential, Role::Operator)? {
            Principal::Operator(operator) => operator.acting_as(need, call),
            _ => Err(SwitchError::new(
                harambee_core::error::ErrorCode::InvalidSignature,
                "not an operator credential",
            )),
        }
    }

    /// Admits one request of the authenticated participant `participant`
    /// within its limits (see [`admission`]), or refuses it with 2005
    /// before it changes anything. Hold the guard until the request's
    /// work is done.
    pub fn admit(&self, participant: &str) -> Result<admission::Admitted, SwitchError> {
        self.admission.admit(participant)
    }

    /// The switch's state, to read (the pure core's types). Hold it
    /// briefly: the engine waits for it to apply the next records.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, State>, SwitchError> {
        self.engine.read()
    }

    /// How the switch's two stores are, as Mojaloop's services report
    /// their `broker` and `datastore`: the log (whether it takes appends)
    /// and the state (whether it can be read).
    pub fn health(&self) -> Health {
        use harambee_engine::engine::EngineHealth;
        let log = match &*self.engine.health().borrow() {
            EngineHealth::Serving => Ok(()),
            EngineHealth::Starting => Err("recovering its state from the log".to_string()),
            EngineHealth::Degraded(why) | EngineHealth::Failed(why) => Err(why.clone()),
            EngineHealth::Stopped => Err("stopped".to_string()),
        };
        let state = self.engine.read().map(|_| ()).map_err(|e| e.to_string());
        Health { log, state }
    }

    /// Whether this node is the ledger writer (in a cluster, one is).
    pub fn is_writer(&self) -> bool {
        self.engine.is_writer()
    }

    /// The name of a participant id (empty if there is none).
    pub fn name_of(&self, id: harambee_ledger::ParticipantId) -> Result<String, SwitchError> {
        Ok(self
            .read()?
            .ledger
            .participant_name(id)
            .map(str::to_string)
            .unwrap_or_default())
    }

    /// The time now, from the clock port.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The settings the flows apply.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// An engine reply of the wrong kind for its command: a defect, never
/// input.
pub(crate) fn unexpected() -> SwitchError {
    SwitchError::new(
        harambee_core::error::ErrorCode::InternalServerError,
        "unexpected reply",
    )
}
