//! The credential checks of the switch, behind the [`Authenticator`] port:
//! participants by the SHA-256 of their credential in the directory, the
//! operator by the operator token, the cluster's nodes by the cluster's
//! own token (never the operator's). Digests are
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
    /// None: no node may call (a switch that is not a cluster).
    cluster_token_sha256: Option<[u8; 32]>,
}

impl CredentialAuthenticator {
    /// `cluster_token`: the nodes' credential, if this switch is a node of
    /// a cluster (it must differ from the operator's).
    pub fn new(
        engine: Engine,
        operator_token: &str,
        cluster_token: Option<&str>,
    ) -> CredentialAuthenticator {
        let cluster_token_sha256 = cluster_token
            .filter(|t| !t.is_empty() && *t != operator_token)
            .map(credential_hash);
        CredentialAuthenticator {
            engine,
            operator_token_sha256: credential_hash(operator_token),
            cluster_token_sha256,
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
            Role::Operator if hash == self.operator_token_sha256 => Ok(Principal::Operator),
            Role::ClusterNode if Some(hash) == self.cluster_token_sha256 => {
                Ok(Principal::ClusterNode)
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
