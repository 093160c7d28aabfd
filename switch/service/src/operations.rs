//! The hub operator's operations: participants and their currencies,
//! limits, funds in and out, endpoints and oracles, settlement windows and
//! settlements. Each is a command of the core (`LedgerCommand`,
//! `DirectoryCommand`, `SettlementCommand`), checked by the adapter's edge
//! and logged here, with the operator who made it (the log names who did
//! what: `harambee audit operators`); the reply is the core's.

use harambee_core::error::SwitchError;
use harambee_core::record::{
    DirectoryCommand, LedgerCommand, LogRecord, ParticipantRef, SettlementCommand,
    SettlementModelDef,
};
use harambee_core::state::{Applied, DirectoryReply};
use harambee_ledger::Currency;
use harambee_ledger::Reply;
use harambee_read::projection::{PostingQuery, PostingRow, TransferQuery, TransferRow};
use rust_decimal::Decimal;

use crate::Service;
use crate::ports::Acting;

/// `record`, as `by` made it.
fn by_operator(by: &Acting, record: LogRecord) -> LogRecord {
    LogRecord::operated(&by.operator, by.role.name(), record)
}

impl Service {
    /// Logs a ledger command (a participant, a currency, a limit, funds);
    /// the ledger's reply, and whether the command was a repeat.
    pub async fn ledger(
        &self,
        by: &Acting,
        command: LedgerCommand,
    ) -> Result<(Reply, bool), SwitchError> {
        match self
            .engine
            .submit(by_operator(by, LogRecord::Ledger(command)))
            .await?
        {
            Applied::Ledger { outcome } => match outcome.result {
                Ok(reply) => Ok((reply, outcome.duplicate)),
                Err(e) => Err(SwitchError::from_number(e.code(), e.to_string())),
            },
            Applied::Directory(_) | Applied::Settlement { .. } => Err(crate::unexpected()),
        }
    }

    /// Logs a directory command (a credential, an endpoint, an oracle).
    pub async fn directory(
        &self,
        by: &Acting,
        command: DirectoryCommand,
    ) -> Result<DirectoryReply, SwitchError> {
        match self
            .engine
            .submit(by_operator(by, LogRecord::Directory(command)))
            .await?
        {
            Applied::Directory(reply) => reply,
            Applied::Ledger { .. } | Applied::Settlement { .. } => Err(crate::unexpected()),
        }
    }

    /// Logs a settlement command (a window closed, a settlement created,
    /// advanced or aborted).
    pub async fn settlement(
        &self,
        by: &Acting,
        command: SettlementCommand,
    ) -> Result<harambee_core::state::SettlementReply, SwitchError> {
        match self
            .engine
            .submit(by_operator(by, LogRecord::Settlement(command)))
            .await?
        {
            Applied::Settlement { result } => result,
            Applied::Ledger { .. } | Applied::Directory(_) => Err(crate::unexpected()),
        }
    }

    /// Opens a participant's accounts in `currency` with a net debit cap,
    /// settled as the currency's settlement model says (immediate gross,
    /// or net in windows).
    pub async fn open_accounts(
        &self,
        by: &Acting,
        participant: &str,
        currency: Currency,
        net_debit_cap: Decimal,
    ) -> Result<(Reply, bool), SwitchError> {
        let opened = self
            .ledger(
                by,
                LedgerCommand::OpenAccounts {
                    participant: ParticipantRef::name(participant),
                    currency,
                    net_debit_cap,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        let gross = self
            .read()?
            .directory
            .position_model(currency)
            .is_some_and(SettlementModelDef::is_immediate_gross);
        if gross {
            self.ledger(
                by,
                LedgerCommand::SetSettlementModel {
                    participant: ParticipantRef::name(participant),
                    currency,
                    gross,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        }
        Ok(opened)
    }

    /// Defines a settlement model of the scheme. An immediate gross model
    /// of a currency makes every participant holding it settle each
    /// transfer at once, from now on (those who open the currency later
    /// too, through [`Service::open_accounts`]).
    pub async fn define_settlement_model(
        &self,
        by: &Acting,
        model: SettlementModelDef,
    ) -> Result<DirectoryReply, SwitchError> {
        let gross_currency = model.currency.filter(|_| model.is_immediate_gross());
        let reply = self
            .directory(
                by,
                DirectoryCommand::DefineSettlementModel {
                    model,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        if let Some(currency) = gross_currency {
            let holders: Vec<String> = {
                let st = self.read()?;
                st.ledger
                    .participants()
                    .iter()
                    .filter(|p| st.ledger.participant_currency(p.id, currency).is_some())
                    .map(|p| p.name.clone())
                    .collect()
            };
            for name in holders {
                self.ledger(
                    by,
                    LedgerCommand::SetSettlementModel {
                        participant: ParticipantRef::name(name.as_str()),
                        currency,
                        gross: true,
                        now_ms: self.now_ms(),
                    },
                )
                .await?;
            }
        }
        Ok(reply)
    }

    /// A page of transfers from the transfers projection.
    pub async fn list_transfers(
        &self,
        query: &TransferQuery,
    ) -> Result<Vec<TransferRow>, SwitchError> {
        self.projections
            .transfers(query)
            .await
            .map_err(read_side_unavailable)
    }

    /// A page of postings from the postings projection.
    pub async fn list_postings(
        &self,
        query: &PostingQuery,
    ) -> Result<Vec<PostingRow>, SwitchError> {
        self.projections
            .postings(query)
            .await
            .map_err(read_side_unavailable)
    }
}

/// A read-side store that cannot answer: the service is unavailable.
fn read_side_unavailable(e: harambee_read::projection::ProjectionError) -> SwitchError {
    SwitchError::new(
        harambee_core::error::ErrorCode::ServiceUnavailable,
        format!("projection store: {e}"),
    )
}
