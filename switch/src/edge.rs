//! What every API server shares: the context, authentication, clock, and
//! the conversions between ledger records and wire messages.

use std::sync::Arc;
use std::time::Duration;

use harambee_ledger::{Resolution, TransferRecord, TransferState};
use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::{self, Money, TransferResult};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tonic::metadata::MetadataMap;

use crate::callbacks::Channels;
use crate::config::Config;
use crate::service::ports::{Authenticator, Credential, Principal, Role};
use crate::validate;
use harambee_engine::engine::Engine;

/// A notification for one participant.
#[derive(Clone, Debug)]
pub struct Notice {
    pub participant: String,
    pub notification: v1::Notification,
}

/// Notifications waiting on the live path for the streams; a stream that
/// falls further behind fills the gap from the notices projection.
pub const NOTICE_BUS_DEPTH: usize = 4_096;

/// Shared by the API servers and background tasks.
#[derive(Clone)]
pub struct Ctx {
    pub engine: Engine,
    pub channels: Arc<Channels>,
    pub config: Arc<Config>,
    pub notices: broadcast::Sender<Notice>,
    /// The SQL projections the operator's queries read.
    pub projections: Arc<dyn crate::projection::ProjectionStore>,
    /// Every credential check.
    pub authenticator: Arc<dyn Authenticator>,
}

pub use crate::clock::now_ms;

/// SHA-256 of a credential.
pub fn credential_hash(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// The bearer credential in `authorization` metadata.
pub fn bearer(metadata: &MetadataMap) -> Result<&str, FspiopError> {
    let value = metadata.get("authorization").ok_or_else(|| {
        FspiopError::new(
            ErrorCode::InvalidSignature,
            "missing authorization metadata (Bearer credential)",
        )
    })?;
    let text = value
        .to_str()
        .map_err(|_| FspiopError::new(ErrorCode::InvalidSignature, "authorization is not ASCII"))?;
    text.strip_prefix("Bearer ")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            FspiopError::new(
                ErrorCode::InvalidSignature,
                "authorization must be \"Bearer <credential>\"",
            )
        })
}

impl Ctx {
    /// The participant a request's credential belongs to.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<String, FspiopError> {
        match self.check(metadata, Role::Participant)? {
            Principal::Participant(name) => Ok(name),
            _ => Err(FspiopError::new(
                ErrorCode::InvalidSignature,
                "not a participant credential",
            )),
        }
    }

    /// The one credential check of every gRPC API: the metadata's bearer
    /// credential, through the [`Authenticator`].
    pub fn check(&self, metadata: &MetadataMap, role: Role) -> Result<Principal, FspiopError> {
        let credential = Credential::Bearer(bearer(metadata)?);
        Ok(self.authenticator.authenticate(credential, role)?)
    }

    /// The name of a participant id.
    pub fn name_of(&self, id: harambee_ledger::ParticipantId) -> Result<String, FspiopError> {
        Ok(self
            .engine
            .read()?
            .ledger
            .participant_name(id)
            .map(str::to_string)
            .unwrap_or_default())
    }

    pub fn timeout(ms: u64) -> Duration {
        Duration::from_millis(ms.max(1))
    }
}

/// The wire state of a transfer.
pub fn wire_state(state: TransferState) -> v1::TransferState {
    match state {
        TransferState::Reserved => v1::TransferState::Reserved,
        TransferState::Committed => v1::TransferState::Committed,
        TransferState::Aborted | TransferState::Refused => v1::TransferState::Aborted,
    }
}

/// A ledger transfer as the participant API shows it.
pub fn transfer_result(t: &TransferRecord, payer: String, payee: String) -> TransferResult {
    let fulfilment = match (t.state, t.resolution) {
        (TransferState::Committed, Some(Resolution::Fulfil(f))) => harambee_core::text::b64url(&f),
        _ => String::new(),
    };
    let error = match t.state {
        TransferState::Aborted | TransferState::Refused => {
            Some(FspiopError::from_number(t.reason, "").to_error_information())
        }
        _ => None,
    };
    TransferResult {
        transfer_id: harambee_core::text::uuid_string(t.id.0),
        state: wire_state(t.state) as i32,
        payer_fsp: payer,
        payee_fsp: payee,
        amount: Some(Money {
            amount: t.currency.to_decimal(t.amount).to_string(),
            currency: t.currency.to_string(),
        }),
        condition: harambee_core::text::b64url(&t.condition),
        expiration: Some(validate::timestamp(t.expires_at_ms)),
        fulfilment,
        completed: t
            .state
            .is_final()
            .then(|| validate::timestamp(t.resolved_at_ms)),
        error,
        prepared: Some(validate::timestamp(t.prepared_at_ms)),
        quote_id: String::new(),
        transaction_id: String::new(),
    }
}
