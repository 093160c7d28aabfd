//! What both gRPC servers share: the service they translate onto, and the
//! credential in a call's metadata.

use std::sync::Arc;

use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_service::Service;
use harambee_service::ports::{Credential, Principal, Role};
use tonic::metadata::MetadataMap;

/// Shared by the API servers: the service layer, which is all an adapter
/// reaches.
#[derive(Clone)]
pub struct Ctx {
    pub service: Arc<Service>,
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

/// The one credential check of every gRPC API: the metadata's bearer
/// credential, through the service's authenticator.
pub fn check(
    service: &Service,
    metadata: &MetadataMap,
    role: Role,
) -> Result<Principal, FspiopError> {
    let credential = Credential::Bearer(bearer(metadata)?);
    Ok(service.authenticate(credential, role)?)
}

impl Ctx {
    /// The participant a request's credential belongs to.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<String, FspiopError> {
        match check(&self.service, metadata, Role::Participant)? {
            Principal::Participant(name) => Ok(name),
            _ => Err(FspiopError::new(
                ErrorCode::InvalidSignature,
                "not a participant credential",
            )),
        }
    }

    /// The participant a request's credential belongs to, admitted within
    /// its limits (2005 over them): hold the guard until the call is done.
    pub fn admit(
        &self,
        metadata: &MetadataMap,
    ) -> Result<(String, harambee_service::admission::Admitted), FspiopError> {
        let caller = self.authenticate(metadata)?;
        let admitted = self.service.admit(&caller)?;
        Ok((caller, admitted))
    }

    /// The credential check for `role`.
    pub fn check(&self, metadata: &MetadataMap, role: Role) -> Result<Principal, FspiopError> {
        check(&self.service, metadata, role)
    }

    /// The name of a participant id.
    pub fn name_of(&self, id: harambee_ledger::ParticipantId) -> Result<String, FspiopError> {
        Ok(self.service.name_of(id)?)
    }
}
