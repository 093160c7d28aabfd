//! Account lookup: who owns a party (the directory's built-in oracle, or
//! the oracle set for the party's type), and the owner's details of it;
//! parties registered and deregistered by their owners.

use std::time::Duration;

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::{DirectoryCommand, LogRecord, PartyKey};
use harambee_core::state::Applied;
use harambee_proto::v1::{Party, PartyIdentifier};
use harambee_proto::validate;

use crate::Service;

/// Where the owner of a party is found.
enum Owner {
    /// The directory names it.
    Known(String),
    /// The oracle at this URL knows.
    Oracle(String),
}

/// A deadline of at least a millisecond.
pub(crate) fn deadline(ms: u64) -> Duration {
    Duration::from_millis(ms.max(1))
}

impl Service {
    fn owner_source(&self, party: &PartyKey) -> Result<Option<Owner>, SwitchError> {
        let st = self.read()?;
        if let Some(url) = st.directory.oracle(&party.party_type) {
            return Ok(Some(Owner::Oracle(url.to_string())));
        }
        if !self
            .settings
            .builtin_oracle_party_types
            .contains(&party.party_type)
        {
            return Err(SwitchError::new(
                ErrorCode::AddPartyInformationError,
                format!("no oracle serves party type {}", party.party_type),
            ));
        }
        Ok(st
            .directory
            .party_owner(party)
            .map(|owner| Owner::Known(owner.to_string())))
    }

    /// The participant that owns `party` (`identifier` as the requester
    /// gave it).
    pub async fn owner_of(
        &self,
        identifier: &PartyIdentifier,
        party: &PartyKey,
        currency: &str,
    ) -> Result<String, SwitchError> {
        match self.owner_source(party)? {
            None => Err(SwitchError::new(
                ErrorCode::PartyNotFound,
                format!("no participant owns {} {}", party.party_type, party.id),
            )),
            Some(Owner::Known(owner)) => Ok(owner),
            Some(Owner::Oracle(url)) => {
                let timeout = deadline(self.settings.lookup_timeout_ms);
                let owner = self
                    .oracle
                    .owner(&url, identifier, currency, timeout)
                    .await?;
                validate::fsp_id("oracle fsp_id", &owner)?;
                Ok(owner)
            }
        }
    }

    /// A party as its owner describes it, for `requester`; `fsp_id` names
    /// the owner. `currency` is empty or the currency the requester would
    /// pay in.
    pub async fn lookup(
        &self,
        requester: &str,
        identifier: &PartyIdentifier,
        currency: &str,
    ) -> Result<Party, SwitchError> {
        let party = validate::party("party", Some(identifier))?;
        if !currency.is_empty() {
            validate::currency("currency", currency)?;
        }
        let owner = self.owner_of(identifier, &party, currency).await?;
        let route = self.transfers.endpoint(&owner)?;
        let timeout = deadline(self.settings.lookup_timeout_ms);
        let mut found = self
            .payees
            .party(&route, identifier, requester, timeout)
            .await?;
        found.fsp_id = owner;
        Ok(found)
    }

    /// Registers (`add`) or deregisters `party` as owned by `owner`, as
    /// the owner asked.
    pub async fn register_party(
        &self,
        owner: &str,
        party: PartyKey,
        add: bool,
    ) -> Result<(), SwitchError> {
        self.register_party_by(None, owner, party, add).await
    }

    /// [`Service::register_party`], made by an operator (`by`) on the
    /// owner's behalf when there is one.
    pub async fn register_party_by(
        &self,
        by: Option<&crate::ports::Acting>,
        owner: &str,
        party: PartyKey,
        add: bool,
    ) -> Result<(), SwitchError> {
        let owner = owner.to_string();
        let now_ms = self.now_ms();
        let command = if add {
            DirectoryCommand::RegisterParty {
                owner,
                party,
                now_ms,
            }
        } else {
            DirectoryCommand::DeregisterParty {
                owner,
                party,
                now_ms,
            }
        };
        let record = match by {
            Some(by) => {
                LogRecord::operated(&by.operator, by.role.name(), LogRecord::Directory(command))
            }
            None => LogRecord::Directory(command),
        };
        match self.engine.submit(record).await? {
            Applied::Directory(reply) => reply.map(|_| ()),
            Applied::Ledger { .. } | Applied::Settlement { .. } => Err(crate::unexpected()),
        }
    }
}
