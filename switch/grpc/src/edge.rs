//! What both gRPC servers share: the service they translate onto, and the
//! credential in a call's metadata.

use std::sync::Arc;

use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_service::Service;
use harambee_service::ports::{Acting, Credential, Need, PeerIdentity, Principal, Role};
use tonic::Request;
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

/// What a call proves who it is by: the client certificate its TLS
/// connection presented, if it presented one (and then nothing else);
/// else the bearer credential in its metadata.
pub fn credential<T>(request: &Request<T>) -> Result<Credential<'_>, FspiopError> {
    match request
        .extensions()
        .get::<PeerIdentity>()
        .and_then(|peer| peer.certificate.as_ref())
    {
        Some(certificate) => Ok(certificate.credential()),
        None => Ok(Credential::Bearer(bearer(request.metadata())?)),
    }
}

/// The one credential check of every gRPC API: the call's credential,
/// through the service's authenticator.
pub fn check<T>(
    service: &Service,
    request: &Request<T>,
    role: Role,
) -> Result<Principal, FspiopError> {
    Ok(service.authenticate(credential(request)?, role)?)
}

impl Ctx {
    /// The participant a request's credential belongs to.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<String, FspiopError> {
        match check(&self.service, request, Role::Participant)? {
            Principal::Participant(name) => Ok(name),
            _ => Err(FspiopError::new(
                ErrorCode::InvalidSignature,
                "not a participant credential",
            )),
        }
    }

    /// The participant a request's credential belongs to, admitted within
    /// its limits (2005 over them): hold the guard until the call is done.
    pub fn admit<T>(
        &self,
        request: &Request<T>,
    ) -> Result<(String, harambee_service::admission::Admitted), FspiopError> {
        let caller = self.authenticate(request)?;
        let admitted = self.service.admit(&caller)?;
        Ok((caller, admitted))
    }

    /// The operator a request's credential proves, allowed `call`, which
    /// needs `need`.
    pub fn operator<T>(
        &self,
        request: &Request<T>,
        need: Need,
        call: &str,
    ) -> Result<Acting, FspiopError> {
        Ok(self.service.operator(credential(request)?, need, call)?)
    }

    /// The name of a participant id.
    pub fn name_of(&self, id: harambee_ledger::ParticipantId) -> Result<String, FspiopError> {
        Ok(self.service.name_of(id)?)
    }
}
