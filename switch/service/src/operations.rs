//! The hub operator's operations: participants and their currencies,
//! limits, funds in and out, endpoints and oracles, settlement windows and
//! settlements. Each is a command of the core (`LedgerCommand`,
//! `DirectoryCommand`, `SettlementCommand`), checked by the adapter's edge
//! and logged here; the reply is the core's.

use harambee_core::error::SwitchError;
use harambee_core::record::{DirectoryCommand, LedgerCommand, LogRecord, SettlementCommand};
use harambee_core::state::{Applied, DirectoryReply};
use harambee_ledger::Reply;
use harambee_read::projection::{PostingQuery, PostingRow, TransferQuery, TransferRow};

use crate::Service;

impl Service {
    /// Logs a ledger command (a participant, a currency, a limit, funds);
    /// the ledger's reply, and whether the command was a repeat.
    pub async fn ledger(&self, command: LedgerCommand) -> Result<(Reply, bool), SwitchError> {
        match self.engine.submit(LogRecord::Ledger(command)).await? {
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
        command: DirectoryCommand,
    ) -> Result<DirectoryReply, SwitchError> {
        match self.engine.submit(LogRecord::Directory(command)).await? {
            Applied::Directory(reply) => reply,
            Applied::Ledger { .. } | Applied::Settlement { .. } => Err(crate::unexpected()),
        }
    }

    /// Logs a settlement command (a window closed, a settlement created,
    /// advanced or aborted).
    pub async fn settlement(
        &self,
        command: SettlementCommand,
    ) -> Result<harambee_core::state::SettlementReply, SwitchError> {
        match self.engine.submit(LogRecord::Settlement(command)).await? {
            Applied::Settlement { result } => result,
            Applied::Ledger { .. } | Applied::Directory(_) => Err(crate::unexpected()),
        }
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
