//! The credential checks of the switch, behind the [`Authenticator`] port.
//!
//! - Participants: by a client certificate the TLS handshake verified
//!   against the scheme CA and the directory holds registered to them
//!   (`AddCertificate` records), or by the SHA-256 of their bearer
//!   credential in the directory, unless bearer credentials are switched
//!   off.
//! - Operators: by the SHA-256 of a bearer token or of a client
//!   certificate, as the configuration's `[[operators]]` list them, each
//!   with its roles; and, for the embedded default and development, the
//!   one `api.operator_token`, which holds every role.
//! - The cluster's nodes: by the cluster's own token (never an
//!   operator's).
//!
//! Only digests are held and compared, so neither memory nor the time a
//! check takes says anything about a secret.

use std::collections::HashMap;
use std::sync::RwLock;

use harambee_core::error::{ErrorCode, SwitchError};

use harambee_engine::engine::Engine;
use sha2::{Digest, Sha256};

use crate::ports::{
    Authenticator, Credential, Operator, OperatorRole, PeerCertificate, Principal, Role,
};

/// The name the single `api.operator_token` acts under in the log.
pub const DEFAULT_OPERATOR_NAME: &str = "operator";

/// SHA-256 of a credential: what the directory keeps of a participant's.
pub fn credential_hash(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// One operator credential, as configuration holds it: its digest only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorEntry {
    pub name: String,
    pub roles: Vec<OperatorRole>,
    /// SHA-256 of the operator's bearer token.
    pub token_sha256: Option<[u8; 32]>,
    /// SHA-256 of the DER of the operator's client certificate.
    pub certificate_sha256: Option<[u8; 32]>,
}

/// What the authenticator accepts.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    /// The named operators. The same name may appear twice (an old and a
    /// new credential during a rollover), with the same roles.
    pub operators: Vec<OperatorEntry>,
    /// The one operator of the embedded default: every role (empty: none).
    pub operator_token: String,
    /// The nodes' credential, if this switch is a node of a cluster (it
    /// must differ from every operator's).
    pub cluster_token: Option<String>,
    /// Whether participants may prove who they are with a bearer
    /// credential (false: registered certificates only).
    pub participant_bearer: bool,
}

/// Checks credentials against the directory and the configured operators.
pub struct CredentialAuthenticator {
    engine: Engine,
    /// The operators, replaced whole by [`CredentialAuthenticator::reload_operators`].
    operators: RwLock<Operators>,
    /// The one operator of the embedded default, kept across reloads.
    operator_token: String,
    /// None: no node may call (a switch that is not a cluster).
    cluster_token_sha256: Option<[u8; 32]>,
    participant_bearer: bool,
}

/// The operators' credentials, by digest.
#[derive(Default)]
struct Operators {
    /// Digest of a bearer token -> the operator it proves.
    tokens: HashMap<[u8; 32], Operator>,
    /// Digest of a client certificate -> the operator it proves.
    certificates: HashMap<[u8; 32], Operator>,
}

impl Operators {
    fn of(entries: &[OperatorEntry], operator_token: &str) -> Operators {
        let mut operators = Operators::default();
        if !operator_token.is_empty() {
            operators.tokens.insert(
                credential_hash(operator_token),
                Operator {
                    name: DEFAULT_OPERATOR_NAME.to_string(),
                    roles: OperatorRole::ALL.to_vec(),
                },
            );
        }
        for entry in entries {
            let operator = Operator {
                name: entry.name.clone(),
                roles: entry.roles.clone(),
            };
            if let Some(hash) = entry.token_sha256 {
                operators.tokens.insert(hash, operator.clone());
            }
            if let Some(hash) = entry.certificate_sha256 {
                operators.certificates.insert(hash, operator);
            }
        }
        operators
    }
}

impl CredentialAuthenticator {
    pub fn new(engine: Engine, settings: &AuthSettings) -> CredentialAuthenticator {
        let operators = Operators::of(&settings.operators, &settings.operator_token);
        let cluster_token_sha256 = settings
            .cluster_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(credential_hash)
            .filter(|hash| !operators.tokens.contains_key(hash));
        CredentialAuthenticator {
            engine,
            operators: RwLock::new(operators),
            operator_token: settings.operator_token.clone(),
            cluster_token_sha256,
            participant_bearer: settings.participant_bearer,
        }
    }

    /// Replaces the named operators (the operators file read again): from
    /// the next call, a credential removed proves nothing and one added
    /// proves its operator. Refused, keeping the operators there were, if
    /// an entry's token is the cluster's credential.
    pub fn reload_operators(&self, entries: &[OperatorEntry]) -> Result<usize, SwitchError> {
        let operators = Operators::of(entries, &self.operator_token);
        if self
            .cluster_token_sha256
            .is_some_and(|hash| operators.tokens.contains_key(&hash))
        {
            return Err(SwitchError::new(
                ErrorCode::ValidationError,
                "an operator's token is the cluster's credential",
            ));
        }
        let count = operators.tokens.len() + operators.certificates.len();
        *self.operators.write().unwrap_or_else(|p| p.into_inner()) = operators;
        Ok(count)
    }

    fn participant(&self, credential: Credential<'_>) -> Result<Principal, SwitchError> {
        let st = self.engine.read()?;
        let name = match credential {
            Credential::Certificate(c) => st
                .directory
                .participant_for_certificate(&c.sha256)
                .or_else(|| {
                    let issuer = c.issuer?;
                    st.directory
                        .participant_for_issuer(&issuer.ca_sha256, &issuer.subject_sha256)
                }),
            Credential::Bearer(_) if !self.participant_bearer => {
                return Err(refused(
                    "bearer credentials are switched off: present a registered client certificate",
                ));
            }
            Credential::Bearer(bearer) => st
                .directory
                .participant_for_credential(&credential_hash(bearer)),
        };
        name.map(|name| Principal::Participant(name.to_string()))
            .ok_or_else(|| refused("unknown credential"))
    }
}

fn refused(why: &str) -> SwitchError {
    SwitchError::new(ErrorCode::InvalidSignature, why)
}

impl Authenticator for CredentialAuthenticator {
    fn authenticate(
        &self,
        credential: Credential<'_>,
        role: Role,
    ) -> Result<Principal, SwitchError> {
        match (role, credential) {
            (Role::Participant, _) => self.participant(credential),
            (Role::Operator, Credential::Bearer(bearer)) => self
                .operators
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .tokens
                .get(&credential_hash(bearer))
                .cloned()
                .map(Principal::Operator)
                .ok_or_else(|| refused("not an operator credential")),
            (Role::Operator, Credential::Certificate(PeerCertificate { sha256: hash, .. })) => self
                .operators
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .certificates
                .get(hash)
                .cloned()
                .map(Principal::Operator)
                .ok_or_else(|| refused("not an operator certificate")),
            (Role::ClusterNode, Credential::Bearer(bearer))
                if Some(credential_hash(bearer)) == self.cluster_token_sha256 =>
            {
                Ok(Principal::ClusterNode)
            }
            (Role::ClusterNode, _) => Err(refused("not the cluster credential")),
        }
    }
}
