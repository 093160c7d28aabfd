//! What every API server shares: the context, authentication, clock, and
//! the conversions between ledger records and wire messages.

use std::sync::Arc;
use std::time::Duration;

use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::{self};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tonic::metadata::MetadataMap;

use crate::config::Config;
use crate::service::ports::{Authenticator, Credential, Principal, Role};
use harambee_engine::engine::Engine;
use harambee_proto::client::Channels;

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
    pub projections: Arc<dyn harambee_read::projection::ProjectionStore>,
    /// Every credential check.
    pub authenticator: Arc<dyn Authenticator>,
}

pub use harambee_engine::clock::now_ms;

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
