//! The credential checks of the switch, behind the [`Authenticator`] port:
//! participants by the SHA-256 of their credential in the directory, the
//! operator and the cluster's nodes by the operator token. Digests are
//! compared, so the time a check takes says nothing about a secret.

use harambee_core::error::{ErrorCode, SwitchError};

use harambee_engine::engine::Engine;
use sha2::{Digest, Sha256};

use crate::ports::{Authenticator, Credential, Principal, Role};

/// SHA-256 of a credential: what the directory keeps of a participant's.
pub fn credential_hash(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// Checks bearer credentials against the directory and the operator token.
pub struct CredentialAuthenticator {
    engine: Engine,
    operator_token_sha256: [u8; 32],
}

impl CredentialAuthenticator {
    pub fn new(engine: Engine, operator_token: &str) -> CredentialAuthenticator {
        CredentialAuthenticator {
            engine,
            operator_token_sha256: credential_hash(operator_token),
        }
    }
}

impl Authenticator for CredentialAuthenticator {
    fn authenticate(
        &self,
        credential: Credential<'_>,
        role: Role,
    ) -> Result<Principal, SwitchError> {
        let Credential::Bearer(bearer) = credential;
        let hash = credential_hash(bearer);
        match role {
            Role::Participant => {
                let st = self.engine.read()?;
                st.directory
                    .participant_for_credential(&hash)
                    .map(|name| Principal::Participant(name.to_string()))
                    .ok_or_else(|| {
                        SwitchError::new(ErrorCode::InvalidSignature, "unknown credential")
                    })
            }
            Role::Operator | Role::ClusterNode if hash == self.operator_token_sha256 => {
                Ok(if role == Role::Operator {
                    Principal::Operator
                } else {
                    Principal::ClusterNode
                })
            }
            Role::Operator => Err(SwitchError::new(
                ErrorCode::InvalidSignature,
                "not the operator credential",
            )),
            Role::ClusterNode => Err(SwitchError::new(
                ErrorCode::InvalidSignature,
                "not the cluster credential",
            )),
        }
    }
}
