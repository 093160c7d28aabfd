//! The Operator API server: participants, currencies, accounts, limits,
//! funds, oracles, transfers, postings, settlement windows, settlements and
//! their reports, and the ledger digest.

use harambee_ledger::{
    Account as LedgerAccount, AccountType as LedgerAccountType, Currency, FundsId, FundsKind,
    FundsState as LedgerFundsState, Owner, ParticipantKind as LedgerKind, PositionView, Reply,
    TransferId,
};
use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use rand::RngCore;
use tonic::{Request, Response, Status};

use crate::edge::Ctx;
use harambee_core::record::{DirectoryCommand, LedgerCommand, ParticipantRef, SettlementCommand};
use harambee_core::state::{SettlementReply, State};
use harambee_proto::convert::{settlement_state, transfer_result};
use harambee_proto::validate;
use harambee_service::auth::credential_hash;
use harambee_service::ports::{Acting, Need, OperatorRole};
use harambee_service::rows::{PostingQuery, PostingRow, TransferQuery, TransferRow};

/// Largest page of a list call.
pub const PAGE_SIZE_MAX: usize = 1000;

/// How many items a page holds: 100 unless asked, at most `PAGE_SIZE_MAX`.
fn page_size(page: &PageRequest) -> usize {
    match page.page_size as usize {
        0 => 100,
        n => n.min(PAGE_SIZE_MAX),
    }
}

/// Where a page starts: `None` for the first page, else what `parse`
/// reads from the page token (the last item of the page before); a token
/// it cannot read is 3100.
fn page_after<T>(
    page: &PageRequest,
    parse: impl FnOnce(&str) -> Option<T>,
) -> std::result::Result<Option<T>, FspiopError> {
    if page.page_token.is_empty() {
        return Ok(None);
    }
    parse(&page.page_token)
        .map(Some)
        .ok_or_else(|| FspiopError::new(ErrorCode::ValidationError, "page_token: malformed"))
}

/// A page token that is the numeric id of the last item of the page
/// before; 0 (before every id) for the first page.
fn id_page_token(page: &PageRequest) -> std::result::Result<u64, FspiopError> {
    Ok(page_after(page, |t| t.parse().ok())?.unwrap_or(0))
}

/// One page of a list: `rows` fetched as one more than `size`, cut to
/// `size`, and the token of the next page (empty on the last), made by
/// `token` from the page's last row.
fn page_of<T>(
    mut rows: Vec<T>,
    size: usize,
    token: impl Fn(&T) -> String,
) -> (Vec<T>, PageResponse) {
    let more = rows.len() > size;
    rows.truncate(size);
    let next_page_token = match rows.last() {
        Some(last) if more => token(last),
        _ => String::new(),
    };
    (rows, PageResponse { next_page_token })
}

fn certificate_info(
    fsp_id: &str,
    sha256: &str,
    c: &harambee_core::state::RegisteredCertificate,
) -> ParticipantCertificate {
    ParticipantCertificate {
        fsp_id: fsp_id.to_string(),
        sha256: sha256.to_string(),
        subject: c.subject.clone(),
        registered: Some(validate::timestamp(c.registered_at_ms)),
    }
}

fn issuer_info(i: &harambee_core::state::RegisteredIssuer) -> ParticipantIssuer {
    ParticipantIssuer {
        fsp_id: i.participant.clone(),
        ca_sha256: i.ca_sha256.clone(),
        ca_subject: i.ca_subject.clone(),
        subject: i.subject.clone(),
        registered: Some(validate::timestamp(i.registered_at_ms)),
    }
}

pub struct OperatorService {
    pub ctx: Ctx,
}

type Result<T> = std::result::Result<T, FspiopError>;

impl OperatorService {
    async fn ledger(&self, by: &Acting, command: LedgerCommand) -> Result<(Reply, bool)> {
        Ok(self.ctx.service.ledger(by, command).await?)
    }

    async fn directory(&self, by: &Acting, command: DirectoryCommand) -> Result<()> {
        self.ctx.service.directory(by, command).await?;
        Ok(())
    }

    /// A participant as a log record names it, once it is known to exist.
    fn participant_ref(&self, fsp_id: &str) -> Result<ParticipantRef> {
        self.participant_id(fsp_id)?;
        Ok(ParticipantRef::name(fsp_id))
    }

    fn participant_id(&self, fsp_id: &str) -> Result<harambee_ledger::ParticipantId> {
        validate::fsp_id("fsp_id", fsp_id)?;
        self.ctx
            .service
            .read()?
            .ledger
            .participant_by_name(fsp_id)
            .map(|p| p.id)
            .ok_or_else(|| {
                FspiopError::new(
                    ErrorCode::IdNotFound,
                    format!("participant {fsp_id} not found"),
                )
            })
    }

    fn info(&self, fsp_id: &str) -> Result<ParticipantInfo> {
        let st = self.ctx.service.read()?;
        let p = st.ledger.participant_by_name(fsp_id).ok_or_else(|| {
            FspiopError::new(
                ErrorCode::IdNotFound,
                format!("participant {fsp_id} not found"),
            )
        })?;
        let currencies = st
            .ledger
            .currencies()
            .into_iter()
            .filter(|c| st.ledger.participant_currency(p.id, *c).is_some())
            .map(|c| c.to_string())
            .collect();
        Ok(ParticipantInfo {
            fsp_id: p.name.clone(),
            kind: match p.kind {
                LedgerKind::Bank => ParticipantKind::Bank,
                LedgerKind::Wallet => ParticipantKind::Wallet,
            } as i32,
            name: p.name.clone(),
            active: p.active,
            endpoint: st
                .directory
                .endpoint(&p.name)
                .unwrap_or_default()
                .to_string(),
            currencies,
            created: None,
        })
    }

    async fn issue_credential(&self, by: &Acting, fsp_id: &str) -> Result<String> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let credential = harambee_core::text::b64url(&bytes);
        self.directory(
            by,
            DirectoryCommand::SetCredential {
                participant: fsp_id.to_string(),
                credential_sha256: credential_hash(&credential),
                now_ms: self.ctx.service.now_ms(),
            },
        )
        .await?;
        Ok(credential)
    }

    async fn create_participant(
        &self,
        by: &Acting,
        r: CreateParticipantRequest,
    ) -> Result<CreateParticipantResponse> {
        validate::fsp_id("fsp_id", &r.fsp_id)?;
        let kind = match ParticipantKind::try_from(r.kind) {
            Ok(ParticipantKind::Bank) => LedgerKind::Bank,
            Ok(ParticipantKind::Wallet) => LedgerKind::Wallet,
            _ => {
                return Err(FspiopError::new(
                    ErrorCode::ValidationError,
                    "kind: must be BANK or WALLET",
                ));
            }
        };
        let (_, duplicate) = self
            .ledger(
                by,
                LedgerCommand::CreateParticipant {
                    name: r.fsp_id.clone(),
                    kind,
                    now_ms: self.ctx.service.now_ms(),
                },
            )
            .await?;
        let credential = if duplicate {
            String::new()
        } else {
            self.issue_credential(by, &r.fsp_id).await?
        };
        Ok(CreateParticipantResponse {
            participant: Some(self.info(&r.fsp_id)?),
            credential,
        })
    }

    /// An issuer registration of `fsp_id`, or 3200.
    fn issuer(&self, fsp_id: &str, ca_sha256: &str, subject: &str) -> Result<ParticipantIssuer> {
        let st = self.ctx.service.read()?;
        st.directory
            .issuers_of(fsp_id)
            .find(|i| i.ca_sha256 == ca_sha256 && i.subject == subject)
            .map(issuer_info)
            .ok_or_else(|| {
                FspiopError::new(
                    ErrorCode::IdNotFound,
                    format!("{fsp_id} holds no such issuer registration"),
                )
            })
    }

    /// A registered certificate of `fsp_id`, or 3200.
    fn certificate(&self, fsp_id: &str, sha256: &[u8; 32]) -> Result<ParticipantCertificate> {
        let st = self.ctx.service.read()?;
        let hex = harambee_core::text::hex(sha256);
        st.directory
            .certificates_of(fsp_id)
            .find(|(h, _)| *h == hex)
            .map(|(h, c)| certificate_info(fsp_id, h, c))
            .ok_or_else(|| {
                FspiopError::new(
                    ErrorCode::IdNotFound,
                    format!("{fsp_id} holds no such certificate"),
                )
            })
    }

    fn position_info(&self, view: &PositionView) -> Result<PositionInfo> {
        let c = view.currency;
        let scale = self.ctx.service.read()?.ledger.scale_of(c);
        let shown = |units: i128| c.from_units(units, scale).to_string();
        Ok(PositionInfo {
            fsp_id: self.ctx.name_of(view.participant)?,
            currency: c.to_string(),
            position: shown(view.position),
            reserved: shown(view.reserved),
            liquidity: shown(view.liquidity),
            net_debit_cap: shown(view.net_debit_cap),
            available: shown(view.available),
            settlement_model: SettlementModel::DeferredMultilateralNet as i32,
        })
    }

    fn position(&self, fsp_id: &str, currency: Currency) -> Result<PositionInfo> {
        let id = self.participant_id(fsp_id)?;
        let view = self
            .ctx
            .service
            .read()?
            .ledger
            .position(id, currency)
            .ok_or_else(|| {
                FspiopError::new(
                    ErrorCode::IdNotFound,
                    format!("{fsp_id} has no {currency} accounts"),
                )
            })?;
        self.position_info(&view)
    }

    fn cap(text: &str, c: Currency) -> Result<rust_decimal::Decimal> {
        validate::non_negative_amount("net_debit_cap", text, c)?;
        text.parse().map_err(|_| {
            FspiopError::new(ErrorCode::ValidationError, "net_debit_cap: not a decimal")
        })
    }

    fn funds_result(&self, id: FundsId) -> Result<FundsResult> {
        let st = self.ctx.service.read()?;
        let r = st.ledger.funds(id).ok_or_else(|| {
            FspiopError::new(ErrorCode::IdNotFound, format!("funds {id} not found"))
        })?;
        Ok(FundsResult {
            funds_id: harambee_core::text::uuid_string(id.0),
            fsp_id: st
                .ledger
                .participant_name(r.participant)
                .map(str::to_string)
                .unwrap_or_default(),
            direction: match r.kind {
                FundsKind::In => "IN",
                FundsKind::Out => "OUT",
            }
            .into(),
            amount: Some(Money {
                amount: st.ledger.decimal(r.currency, r.amount).to_string(),
                currency: r.currency.to_string(),
            }),
            state: match r.state {
                LedgerFundsState::Reserved => FundsState::Reserved,
                LedgerFundsState::Committed => FundsState::Committed,
                LedgerFundsState::Aborted => FundsState::Aborted,
            } as i32,
        })
    }

    /// Funds movements in funds id order, filtered by participant and
    /// state.
    fn list_funds(&self, r: &ListFundsRequest) -> Result<ListFundsResponse> {
        let participant = if r.fsp_id.is_empty() {
            None
        } else {
            Some(self.participant_id(&r.fsp_id)?)
        };
        let state = match FundsState::try_from(r.state) {
            Ok(FundsState::Unspecified) => None,
            Ok(FundsState::Reserved) => Some(LedgerFundsState::Reserved),
            Ok(FundsState::Committed) => Some(LedgerFundsState::Committed),
            Ok(FundsState::Aborted) => Some(LedgerFundsState::Aborted),
            Err(_) => {
                return Err(FspiopError::new(
                    ErrorCode::ValidationError,
                    "state: unknown",
                ));
            }
        };
        let page = r.page.clone().unwrap_or_default();
        let size = page_size(&page);
        let after = page_after(&page, harambee_core::text::parse_uuid)?;
        let mut ids: Vec<FundsId> = {
            let st = self.ctx.service.read()?;
            st.ledger
                .all_funds()
                .filter(|f| participant.is_none_or(|p| f.participant == p))
                .filter(|f| state.is_none_or(|s| f.state == s))
                .filter(|f| after.is_none_or(|a| f.id.0 > a))
                .map(|f| f.id)
                .collect()
        };
        ids.sort_unstable_by_key(|id| id.0);
        ids.truncate(size + 1);
        let (ids, page) = page_of(ids, size, |id| harambee_core::text::uuid_string(id.0));
        Ok(ListFundsResponse {
            funds: ids
                .into_iter()
                .map(|id| self.funds_result(id))
                .collect::<Result<_>>()?,
            page: Some(page),
        })
    }

    async fn funds(&self, by: &Acting, r: FundsRequest, out: bool) -> Result<FundsResult> {
        let id = FundsId(validate::uuid("funds_id", &r.funds_id)?);
        let participant = self.participant_ref(&r.fsp_id)?;
        let (amount, currency) = validate::money("amount", r.amount.as_ref())?;
        validate::note("reason", &r.reason)?;
        let command = if out {
            LedgerCommand::FundsOutReserve {
                funds_id: id,
                participant,
                currency,
                amount,
                now_ms: self.ctx.service.now_ms(),
            }
        } else {
            LedgerCommand::FundsIn {
                funds_id: id,
                participant,
                currency,
                amount,
                now_ms: self.ctx.service.now_ms(),
            }
        };
        self.ledger(by, command).await?;
        self.funds_result(id)
    }

    async fn funds_action(
        &self,
        by: &Acting,
        r: FundsActionRequest,
        commit: bool,
    ) -> Result<FundsResult> {
        let id = FundsId(validate::uuid("funds_id", &r.funds_id)?);
        validate::note("reason", &r.reason)?;
        let command = if commit {
            LedgerCommand::FundsOutCommit {
                funds_id: id,
                now_ms: self.ctx.service.now_ms(),
            }
        } else {
            LedgerCommand::FundsOutAbort {
                funds_id: id,
                now_ms: self.ctx.service.now_ms(),
            }
        };
        self.ledger(by, command).await?;
        self.funds_result(id)
    }

    fn account(&self, a: &LedgerAccount) -> Result<Account> {
        let c = a.currency;
        let scale = self.ctx.service.read()?.ledger.scale_of(c);
        let shown = |units: i128| c.from_units(units, scale).to_string();
        Ok(Account {
            account_id: a.id.0,
            owner: match a.owner {
                Owner::Hub => "hub".into(),
                Owner::Participant(p) => self.ctx.name_of(p)?,
            },
            currency: c.to_string(),
            r#type: match a.kind {
                LedgerAccountType::Position => AccountType::Position,
                LedgerAccountType::Settlement => AccountType::Settlement,
                LedgerAccountType::HubReconciliation => AccountType::HubReconciliation,
                LedgerAccountType::HubMultilateralSettlement => {
                    AccountType::HubMultilateralSettlement
                }
            } as i32,
            debits_posted: shown(a.balances.debits_posted),
            credits_posted: shown(a.balances.credits_posted),
            debits_pending: shown(a.balances.debits_pending),
            credits_pending: shown(a.balances.credits_pending),
            active: a.active,
        })
    }

    /// Reads the SQL projection (it may trail the ledger by a batch).
    async fn list_transfers(&self, r: &ListTransfersRequest) -> Result<ListTransfersResponse> {
        if !r.fsp_id.is_empty() {
            self.participant_id(&r.fsp_id)?;
        }
        if r.window_id != 0 {
            return Err(FspiopError::new(
                ErrorCode::NotImplemented,
                "window_id: settlement windows arrive with the settlement engine",
            ));
        }
        let page = r.page.clone().unwrap_or_default();
        let size = page_size(&page);
        let state = match TransferState::try_from(r.state) {
            Ok(TransferState::Unspecified) => None,
            Ok(TransferState::Reserved) => Some("RESERVED"),
            Ok(TransferState::Committed) => Some("COMMITTED"),
            Ok(TransferState::Aborted) => Some("ABORTED"),
            Ok(TransferState::Received) => {
                return Ok(ListTransfersResponse {
                    transfers: vec![],
                    page: Some(PageResponse::default()),
                });
            }
            Err(_) => {
                return Err(FspiopError::new(
                    ErrorCode::ValidationError,
                    "state: unknown",
                ));
            }
        };
        let after = page_after(&page, |t| {
            harambee_core::text::parse_uuid(t).map(harambee_core::text::uuid_string)
        })?;
        let query = TransferQuery {
            participant: (!r.fsp_id.is_empty()).then(|| r.fsp_id.clone()),
            state,
            from_ms: r
                .from
                .as_ref()
                .map(|t| validate::timestamp_ms("from", Some(t)))
                .transpose()?,
            to_ms: r
                .to
                .as_ref()
                .map(|t| validate::timestamp_ms("to", Some(t)))
                .transpose()?,
            reason: match r.error_code {
                0 => None,
                code @ 1000..=9999 => Some(code as u16),
                _ => {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "error_code: an FSPIOP error code is four digits",
                    ));
                }
            },
            after,
            limit: size as u32 + 1,
        };
        let rows = self.ctx.service.list_transfers(&query).await?;
        let (rows, page) = page_of(rows, size, |t| t.transfer_id.clone());
        Ok(ListTransfersResponse {
            transfers: rows.iter().map(row_result).collect(),
            page: Some(page),
        })
    }
    /// Submits a settlement command that changes a settlement and returns
    /// the settlement as it is after it.
    async fn settlement_command(
        &self,
        by: &Acting,
        command: SettlementCommand,
    ) -> Result<Settlement> {
        match self.ctx.service.settlement(by, command).await? {
            SettlementReply::SettlementChanged(id) => self.settlement_info(id),
            _ => Err(FspiopError::new(
                ErrorCode::InternalServerError,
                "unexpected reply",
            )),
        }
    }

    fn settlement_info(&self, id: harambee_settlement::SettlementId) -> Result<Settlement> {
        let st = self.ctx.service.read()?;
        let x = st.settlements.settlement(id).ok_or_else(|| {
            FspiopError::new(
                ErrorCode::ValidationError,
                format!("settlement {id} does not exist"),
            )
        })?;
        let c = x.currency;
        Ok(Settlement {
            settlement_id: x.id.0,
            currency: c.to_string(),
            model: match x.model {
                harambee_settlement::SettlementModel::MultilateralNet => {
                    SettlementModel::DeferredMultilateralNet
                }
                harambee_settlement::SettlementModel::BilateralNet => {
                    SettlementModel::DeferredBilateralNet
                }
                harambee_settlement::SettlementModel::ImmediateGross => {
                    SettlementModel::ImmediateGross
                }
            } as i32,
            state: settlement_state(x.state) as i32,
            window_ids: x.windows.iter().map(|w| w.0).collect(),
            participants: x
                .accounts
                .iter()
                .map(|(p, a)| SettlementParticipant {
                    // Not `ctx.name_of`: the state is read-locked here.
                    fsp_id: st
                        .ledger
                        .participant(*p)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                    net_amount: st.ledger.decimal(c, a.net).to_string(),
                    state: settlement_state(a.state) as i32,
                    external_reference: a.external_reference.clone(),
                })
                .collect(),
            created: Some(validate::timestamp(x.created_at_ms)),
            changed: Some(validate::timestamp(x.changed_at_ms)),
            reason: x.reason.clone(),
        })
    }

    async fn list_postings(&self, r: &ListPostingsRequest) -> Result<ListPostingsResponse> {
        if !r.fsp_id.is_empty() && r.fsp_id != "hub" {
            self.participant_id(&r.fsp_id)?;
        }
        let reference = if r.reference.is_empty() {
            None
        } else if let Some(n) = r.reference.strip_prefix("settlement-") {
            // The postings of a settlement: "settlement-<id>".
            n.parse::<u64>().map_err(|_| {
                FspiopError::new(ErrorCode::ValidationError, "reference: settlement-<id>")
            })?;
            Some(r.reference.clone())
        } else {
            Some(harambee_core::text::uuid_string(validate::uuid(
                "reference",
                &r.reference,
            )?))
        };
        let page = r.page.clone().unwrap_or_default();
        let size = page_size(&page);
        // The page token is "<log offset>.<event index>" of the last posting.
        let after = page_after(&page, |t| {
            let (o, i) = t.split_once('.')?;
            Some((o.parse::<i64>().ok()?, i.parse::<i64>().ok()?))
        })?;
        let query = PostingQuery {
            owner: (!r.fsp_id.is_empty()).then(|| r.fsp_id.clone()),
            reference,
            after,
            limit: size as u32 + 1,
        };
        let rows = self.ctx.service.list_postings(&query).await?;
        let (rows, page) = page_of(rows, size, |p| {
            format!("{}.{}", p.log_offset, p.event_index)
        });
        Ok(ListPostingsResponse {
            postings: rows.iter().map(posting_entry).collect(),
            page: Some(page),
        })
    }
}

/// Longest reason an operator may give for a settlement action.
pub const REASON_MAX_CHARS: usize = 256;

/// Most windows one settlement may cover.
pub const SETTLEMENT_WINDOWS_MAX: usize = 1_000;

/// Checks an operator's free-text reason.
fn reason(field: &str, text: &str) -> Result<()> {
    if text.chars().count() > REASON_MAX_CHARS {
        return Err(FspiopError::new(
            ErrorCode::ValidationError,
            format!("{field}: at most {REASON_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A settlement window as the Operator API shows it.
fn window_info(st: &State, w: &harambee_settlement::Window) -> SettlementWindow {
    use harambee_settlement::WindowState as S;
    SettlementWindow {
        window_id: w.id.0,
        currency: w.currency.to_string(),
        state: match w.state {
            S::Open => SettlementWindowState::Open,
            S::Closed => SettlementWindowState::Closed,
            S::PendingSettlement => SettlementWindowState::PendingSettlement,
            S::Settled => SettlementWindowState::Settled,
            S::Aborted => SettlementWindowState::Aborted,
        } as i32,
        opened: Some(validate::timestamp(w.opened_at_ms)),
        closed: w.closed_at_ms.map(validate::timestamp),
        transfer_count: w.transfers.len() as u64,
        transfer_amount: st.ledger.decimal(w.currency, w.transfer_amount).to_string(),
        reason: w.close_reason.clone(),
    }
}

fn posting_entry(r: &PostingRow) -> PostingEntry {
    let account_type = |name: &str| {
        AccountType::from_str_name(&format!("ACCOUNT_TYPE_{name}"))
            .unwrap_or(AccountType::Unspecified) as i32
    };
    PostingEntry {
        log_offset: r.log_offset as u64,
        index: r.event_index as u32,
        time: (r.time_ms > 0).then(|| validate::timestamp(r.time_ms)),
        event: r.event.clone(),
        reference: r.reference.clone(),
        debit_account: r.debit_account as u32,
        debit_owner: r.debit_owner.clone(),
        debit_type: account_type(&r.debit_type),
        credit_account: r.credit_account as u32,
        credit_owner: r.credit_owner.clone(),
        credit_type: account_type(&r.credit_type),
        currency: r.currency.clone(),
        amount: r.amount.clone(),
        phase: PostingPhase::from_str_name(&format!("POSTING_PHASE_{}", r.phase))
            .unwrap_or(PostingPhase::Unspecified) as i32,
    }
}

fn row_result(r: &TransferRow) -> TransferResult {
    let state = match r.state.as_str() {
        "RESERVED" => TransferState::Reserved,
        "COMMITTED" => TransferState::Committed,
        _ => TransferState::Aborted,
    };
    TransferResult {
        transfer_id: r.transfer_id.clone(),
        state: state as i32,
        payer_fsp: r.payer.clone(),
        payee_fsp: r.payee.clone(),
        amount: Some(Money {
            amount: r.amount.clone(),
            currency: r.currency.clone(),
        }),
        condition: r.condition.clone(),
        expiration: Some(validate::timestamp(r.expires_at_ms)),
        fulfilment: r.fulfilment.clone(),
        completed: (state != TransferState::Reserved)
            .then(|| validate::timestamp(r.resolved_at_ms)),
        error: (state == TransferState::Aborted)
            .then(|| FspiopError::from_number(r.reason, "").to_error_information()),
        prepared: Some(validate::timestamp(r.prepared_at_ms)),
        quote_id: String::new(),
        transaction_id: String::new(),
    }
}

macro_rules! call {
    ($self:ident, $request:ident, $name:literal, |$r:ident| $body:expr) => {
        call!($self, $request, $name, Need::Read, |$r, _by| $body)
    };
    ($self:ident, $request:ident, $name:literal, $need:expr, |$r:ident, $by:ident| $body:expr) => {{
        let result: Result<_> = async {
            let $by = $self.ctx.operator(&$request, $need, $name)?;
            let $r = $request.into_inner();
            $body
        }
        .await;
        let code = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{:04}", e.code),
        };
        metrics::counter!("harambee_requests_total", "api" => "operator", "call" => $name, "code" => code).increment(1);
        result.map(Response::new).map_err(Status::from)
    }};
}

type Reply_<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl OperatorApi for OperatorService {
    async fn create_participant(
        &self,
        request: Request<CreateParticipantRequest>,
    ) -> Reply_<CreateParticipantResponse> {
        call!(
            self,
            request,
            "CreateParticipant",
            Need::Role(OperatorRole::HubOperator),
            |r, by| self.create_participant(&by, r).await
        )
    }

    async fn rotate_credential(
        &self,
        request: Request<RotateCredentialRequest>,
    ) -> Reply_<CreateParticipantResponse> {
        call!(
            self,
            request,
            "RotateCredential",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                let credential = self.issue_credential(&by, &r.fsp_id).await?;
                Ok(CreateParticipantResponse {
                    participant: Some(self.info(&r.fsp_id)?),
                    credential,
                })
            }
        )
    }

    async fn get_participant(
        &self,
        request: Request<GetParticipantRequest>,
    ) -> Reply_<ParticipantInfo> {
        call!(self, request, "GetParticipant", |r| self.info(&r.fsp_id))
    }

    async fn list_participants(
        &self,
        request: Request<ListParticipantsRequest>,
    ) -> Reply_<ListParticipantsResponse> {
        call!(self, request, "ListParticipants", |_r| {
            let names: Vec<String> = self
                .ctx
                .service
                .read()?
                .ledger
                .participants()
                .iter()
                .map(|p| p.name.clone())
                .collect();
            let participants = names
                .iter()
                .map(|n| self.info(n))
                .collect::<Result<Vec<_>>>()?;
            Ok(ListParticipantsResponse {
                participants,
                page: Some(PageResponse::default()),
            })
        })
    }

    async fn set_participant_active(
        &self,
        request: Request<SetParticipantActiveRequest>,
    ) -> Reply_<ParticipantInfo> {
        call!(
            self,
            request,
            "SetParticipantActive",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let participant = self.participant_ref(&r.fsp_id)?;
                self.ledger(
                    &by,
                    LedgerCommand::SetParticipantActive {
                        participant,
                        active: r.active,
                        now_ms: self.ctx.service.now_ms(),
                    },
                )
                .await?;
                self.info(&r.fsp_id)
            }
        )
    }

    async fn set_account_active(
        &self,
        request: Request<SetAccountActiveRequest>,
    ) -> Reply_<Account> {
        call!(
            self,
            request,
            "SetAccountActive",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let participant = self.participant_ref(&r.fsp_id)?;
                let currency = validate::currency("currency", &r.currency)?;
                let kind = match AccountType::try_from(r.r#type) {
                    Ok(AccountType::Position) => LedgerAccountType::Position,
                    Ok(AccountType::Settlement) => LedgerAccountType::Settlement,
                    _ => {
                        return Err(FspiopError::new(
                            ErrorCode::ValidationError,
                            "type: POSITION or SETTLEMENT",
                        ));
                    }
                };
                let (reply, _) = self
                    .ledger(
                        &by,
                        LedgerCommand::SetAccountActive {
                            participant,
                            currency,
                            kind,
                            active: r.active,
                            now_ms: self.ctx.service.now_ms(),
                        },
                    )
                    .await?;
                let Reply::AccountActive { account, .. } = reply else {
                    return Err(FspiopError::new(
                        ErrorCode::InternalServerError,
                        "unexpected reply",
                    ));
                };
                let a = self
                    .ctx
                    .service
                    .read()?
                    .ledger
                    .account(account)
                    .copied()
                    .ok_or_else(|| {
                        FspiopError::new(ErrorCode::InternalServerError, "no such account")
                    })?;
                self.account(&a)
            }
        )
    }

    async fn set_endpoint(&self, request: Request<SetEndpointRequest>) -> Reply_<ParticipantInfo> {
        call!(
            self,
            request,
            "SetEndpoint",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                // A legacy host on the ISO 8583 gateway: its institution id.
                let legacy = r
                    .url
                    .strip_prefix(harambee_service::transfers::ISO8583_ENDPOINT)
                    .is_some_and(|id| {
                        (1..=11).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
                    });
                let ok = legacy
                    || ((r.url.starts_with("http://") || r.url.starts_with("https://"))
                        && r.url.len() <= 256
                        && tonic::transport::Endpoint::from_shared(r.url.clone()).is_ok());
                if !ok {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "url: must be an http:// or https:// URL of at most 256 characters, or iso8583:<institution id>",
                    ));
                }
                self.directory(
                    &by,
                    DirectoryCommand::SetEndpoint {
                        participant: r.fsp_id.clone(),
                        url: r.url.clone(),
                        now_ms: self.ctx.service.now_ms(),
                    },
                )
                .await?;
                self.info(&r.fsp_id)
            }
        )
    }

    async fn add_participant_certificate(
        &self,
        request: Request<AddParticipantCertificateRequest>,
    ) -> Reply_<ParticipantCertificate> {
        call!(
            self,
            request,
            "AddParticipantCertificate",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                let info = self
                    .ctx
                    .service
                    .add_certificate(&by, &r.fsp_id, &r.certificate_pem)
                    .await?;
                self.certificate(&r.fsp_id, &info.sha256)
            }
        )
    }

    async fn remove_participant_certificate(
        &self,
        request: Request<RemoveParticipantCertificateRequest>,
    ) -> Reply_<ParticipantCertificate> {
        call!(
            self,
            request,
            "RemoveParticipantCertificate",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                let sha256 = harambee_core::text::hex32(&r.sha256).ok_or_else(|| {
                    FspiopError::new(ErrorCode::ValidationError, "sha256: must be 64 hex digits")
                })?;
                let removed = self.certificate(&r.fsp_id, &sha256)?;
                self.ctx
                    .service
                    .remove_certificate(&by, &r.fsp_id, sha256)
                    .await?;
                Ok(removed)
            }
        )
    }

    async fn list_participant_certificates(
        &self,
        request: Request<ListParticipantCertificatesRequest>,
    ) -> Reply_<ListParticipantCertificatesResponse> {
        call!(self, request, "ListParticipantCertificates", |r| {
            self.participant_id(&r.fsp_id)?;
            let st = self.ctx.service.read()?;
            let certificates = st
                .directory
                .certificates_of(&r.fsp_id)
                .map(|(sha256, c)| certificate_info(&r.fsp_id, sha256, c))
                .collect();
            let issuers = st
                .directory
                .issuers_of(&r.fsp_id)
                .map(issuer_info)
                .collect();
            Ok(ListParticipantCertificatesResponse {
                certificates,
                issuers,
            })
        })
    }

    async fn add_participant_issuer(
        &self,
        request: Request<AddParticipantIssuerRequest>,
    ) -> Reply_<ParticipantIssuer> {
        call!(
            self,
            request,
            "AddParticipantIssuer",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                let info = self
                    .ctx
                    .service
                    .add_issuer(&by, &r.fsp_id, &r.ca_certificate_pem, &r.subject)
                    .await?;
                self.issuer(
                    &r.fsp_id,
                    &harambee_core::text::hex(&info.ca_sha256),
                    r.subject.trim(),
                )
            }
        )
    }

    async fn remove_participant_issuer(
        &self,
        request: Request<RemoveParticipantIssuerRequest>,
    ) -> Reply_<ParticipantIssuer> {
        call!(
            self,
            request,
            "RemoveParticipantIssuer",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_id(&r.fsp_id)?;
                let ca_sha256 = harambee_core::text::hex32(&r.ca_sha256.to_ascii_lowercase())
                    .ok_or_else(|| {
                        FspiopError::new(
                            ErrorCode::ValidationError,
                            "ca_sha256: must be 64 hex digits",
                        )
                    })?;
                let removed = self.issuer(
                    &r.fsp_id,
                    &harambee_core::text::hex(&ca_sha256),
                    r.subject.trim(),
                )?;
                self.ctx
                    .service
                    .remove_issuer(&by, &r.fsp_id, ca_sha256, &r.subject)
                    .await?;
                Ok(removed)
            }
        )
    }

    async fn add_currency(&self, request: Request<AddCurrencyRequest>) -> Reply_<CurrencyInfo> {
        call!(
            self,
            request,
            "AddCurrency",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let currency = validate::currency("currency", &r.currency)?;
                self.ledger(
                    &by,
                    LedgerCommand::enable_currency(currency, self.ctx.service.now_ms()),
                )
                .await?;
                Ok(CurrencyInfo {
                    currency: currency.to_string(),
                    scale: currency.scale(),
                })
            }
        )
    }

    async fn list_currencies(
        &self,
        request: Request<ListCurrenciesRequest>,
    ) -> Reply_<ListCurrenciesResponse> {
        call!(self, request, "ListCurrencies", |_r| {
            let currencies = self.ctx.service.read()?.ledger.currencies();
            Ok(ListCurrenciesResponse {
                currencies: currencies
                    .into_iter()
                    .map(|c| CurrencyInfo {
                        currency: c.to_string(),
                        scale: c.scale(),
                    })
                    .collect(),
            })
        })
    }

    async fn add_participant_currency(
        &self,
        request: Request<AddParticipantCurrencyRequest>,
    ) -> Reply_<PositionInfo> {
        call!(
            self,
            request,
            "AddParticipantCurrency",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                self.participant_ref(&r.fsp_id)?;
                let currency = validate::currency("currency", &r.currency)?;
                let net_debit_cap = Self::cap(&r.net_debit_cap, currency)?;
                match SettlementModel::try_from(r.settlement_model) {
                    Ok(SettlementModel::Unspecified | SettlementModel::DeferredMultilateralNet) => {
                    }
                    _ => {
                        return Err(FspiopError::new(
                            ErrorCode::NotImplemented,
                            "only deferred multilateral net settlement is available yet",
                        ));
                    }
                }
                self.ctx
                    .service
                    .open_accounts(&by, &r.fsp_id, currency, net_debit_cap)
                    .await?;
                self.position(&r.fsp_id, currency)
            }
        )
    }

    async fn get_accounts(
        &self,
        request: Request<GetAccountsRequest>,
    ) -> Reply_<GetAccountsResponse> {
        call!(self, request, "GetAccounts", |r| {
            let owner = if r.fsp_id == "hub" {
                Owner::Hub
            } else {
                Owner::Participant(self.participant_id(&r.fsp_id)?)
            };
            let accounts: Vec<LedgerAccount> = self
                .ctx
                .service
                .read()?
                .ledger
                .accounts()
                .iter()
                .filter(|a| a.owner == owner)
                .copied()
                .collect();
            Ok(GetAccountsResponse {
                accounts: accounts
                    .iter()
                    .map(|a| self.account(a))
                    .collect::<Result<_>>()?,
            })
        })
    }

    async fn get_positions(
        &self,
        request: Request<GetPositionsRequest>,
    ) -> Reply_<GetPositionsResponse> {
        call!(self, request, "GetPositions", |r| {
            let id = self.participant_id(&r.fsp_id)?;
            let views: Vec<PositionView> = {
                let st = self.ctx.service.read()?;
                st.ledger
                    .currencies()
                    .into_iter()
                    .filter_map(|c| st.ledger.position(id, c))
                    .collect()
            };
            Ok(GetPositionsResponse {
                positions: views
                    .iter()
                    .map(|v| self.position_info(v))
                    .collect::<Result<_>>()?,
            })
        })
    }

    async fn set_net_debit_cap(
        &self,
        request: Request<SetNetDebitCapRequest>,
    ) -> Reply_<PositionInfo> {
        call!(
            self,
            request,
            "SetNetDebitCap",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let participant = self.participant_ref(&r.fsp_id)?;
                let currency = validate::currency("currency", &r.currency)?;
                let net_debit_cap = Self::cap(&r.net_debit_cap, currency)?;
                self.ledger(
                    &by,
                    LedgerCommand::SetNetDebitCap {
                        participant,
                        currency,
                        net_debit_cap,
                        now_ms: self.ctx.service.now_ms(),
                    },
                )
                .await?;
                self.position(&r.fsp_id, currency)
            }
        )
    }

    async fn set_settlement_model(
        &self,
        request: Request<SetSettlementModelRequest>,
    ) -> Reply_<PositionInfo> {
        call!(
            self,
            request,
            "SetSettlementModel",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let participant = self.participant_ref(&r.fsp_id)?;
                let currency = validate::currency("currency", &r.currency)?;
                let gross = match SettlementModel::try_from(r.model) {
                    Ok(SettlementModel::ImmediateGross) => true,
                    Ok(
                        SettlementModel::DeferredMultilateralNet
                        | SettlementModel::DeferredBilateralNet,
                    ) => false,
                    _ => {
                        return Err(FspiopError::new(
                            ErrorCode::ValidationError,
                            "model: required",
                        ));
                    }
                };
                self.ledger(
                    &by,
                    LedgerCommand::SetSettlementModel {
                        participant,
                        currency,
                        gross,
                        now_ms: self.ctx.service.now_ms(),
                    },
                )
                .await?;
                self.position(&r.fsp_id, currency)
            }
        )
    }

    async fn funds_in(&self, request: Request<FundsRequest>) -> Reply_<FundsResult> {
        call!(
            self,
            request,
            "FundsIn",
            Need::Role(OperatorRole::HubOperator),
            |r, by| self.funds(&by, r, false).await
        )
    }

    async fn funds_out_reserve(&self, request: Request<FundsRequest>) -> Reply_<FundsResult> {
        call!(
            self,
            request,
            "FundsOutReserve",
            Need::Role(OperatorRole::HubOperator),
            |r, by| self.funds(&by, r, true).await
        )
    }

    async fn funds_out_commit(&self, request: Request<FundsActionRequest>) -> Reply_<FundsResult> {
        call!(
            self,
            request,
            "FundsOutCommit",
            Need::Role(OperatorRole::HubOperator),
            |r, by| self.funds_action(&by, r, true).await
        )
    }

    async fn funds_out_abort(&self, request: Request<FundsActionRequest>) -> Reply_<FundsResult> {
        call!(
            self,
            request,
            "FundsOutAbort",
            Need::Role(OperatorRole::HubOperator),
            |r, by| self.funds_action(&by, r, false).await
        )
    }

    async fn set_oracle(&self, request: Request<SetOracleRequest>) -> Reply_<OracleInfo> {
        call!(
            self,
            request,
            "SetOracle",
            Need::Role(OperatorRole::HubOperator),
            |r, by| {
                let party_type = PartyIdType::try_from(r.party_type)
                    .ok()
                    .filter(|t| *t != PartyIdType::Unspecified)
                    .ok_or_else(|| {
                        FspiopError::new(ErrorCode::ValidationError, "party_type: unknown")
                    })?;
                let name = party_type
                    .as_str_name()
                    .trim_start_matches("PARTY_ID_TYPE_")
                    .to_string();
                let url = if r.url.is_empty() {
                    None
                } else if tonic::transport::Endpoint::from_shared(r.url.clone()).is_ok()
                    && r.url.len() <= 256
                {
                    Some(r.url.clone())
                } else {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "url: not a valid URL",
                    ));
                };
                self.directory(
                    &by,
                    DirectoryCommand::SetOracle {
                        party_type: name,
                        url,
                        now_ms: self.ctx.service.now_ms(),
                    },
                )
                .await?;
                Ok(OracleInfo {
                    party_type: r.party_type,
                    url: r.url,
                })
            }
        )
    }

    async fn list_oracles(
        &self,
        request: Request<ListOraclesRequest>,
    ) -> Reply_<ListOraclesResponse> {
        call!(self, request, "ListOracles", |_r| {
            let st = self.ctx.service.read()?;
            let oracles = st
                .directory
                .oracles()
                .map(|(t, url)| OracleInfo {
                    party_type: PartyIdType::from_str_name(&format!("PARTY_ID_TYPE_{t}"))
                        .map_or(0, |x| x as i32),
                    url: url.to_string(),
                })
                .collect();
            Ok(ListOraclesResponse { oracles })
        })
    }

    async fn get_transfer(&self, request: Request<GetTransferRequest>) -> Reply_<TransferResult> {
        call!(self, request, "GetTransfer", |r| {
            let id = TransferId(validate::uuid("transfer_id", &r.transfer_id)?);
            let st = self.ctx.service.read()?;
            let t = st.ledger.transfer(id).ok_or_else(|| {
                FspiopError::new(
                    ErrorCode::TransferNotFound,
                    format!("transfer {id} not found"),
                )
            })?;
            let name = |p| {
                st.ledger
                    .participant(p)
                    .map(|x| x.name.clone())
                    .unwrap_or_default()
            };
            Ok(transfer_result(
                t,
                st.ledger.decimal(t.currency, t.amount),
                name(t.payer),
                name(t.payee),
            ))
        })
    }

    async fn list_transfers(
        &self,
        request: Request<ListTransfersRequest>,
    ) -> Reply_<ListTransfersResponse> {
        call!(self, request, "ListTransfers", |r| self
            .list_transfers(&r)
            .await)
    }

    async fn list_postings(
        &self,
        request: Request<ListPostingsRequest>,
    ) -> Reply_<ListPostingsResponse> {
        call!(self, request, "ListPostings", |r| self
            .list_postings(&r)
            .await)
    }

    async fn list_settlement_windows(
        &self,
        request: Request<ListSettlementWindowsRequest>,
    ) -> Reply_<ListSettlementWindowsResponse> {
        call!(self, request, "ListSettlementWindows", |r| {
            let currency = if r.currency.is_empty() {
                None
            } else {
                Some(validate::currency("currency", &r.currency)?)
            };
            let state = match SettlementWindowState::try_from(r.state) {
                Ok(SettlementWindowState::Unspecified) => None,
                Ok(s) => Some(s),
                Err(_) => {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "state: unknown",
                    ));
                }
            };
            let page = r.page.clone().unwrap_or_default();
            let size = page_size(&page);
            // The page token is the id of the last window of the page before.
            let after = id_page_token(&page)?;
            let st = self.ctx.service.read()?;
            let windows: Vec<SettlementWindow> = st
                .settlements
                .windows()
                .iter()
                .filter(|w| w.id.0 > after)
                .filter(|w| currency.is_none_or(|c| w.currency == c))
                .map(|w| window_info(&st, w))
                .filter(|w| state.is_none_or(|s| w.state == s as i32))
                .take(size + 1)
                .collect();
            let (windows, page) = page_of(windows, size, |w| w.window_id.to_string());
            Ok(ListSettlementWindowsResponse {
                windows,
                page: Some(page),
            })
        })
    }

    async fn get_settlement_window(
        &self,
        request: Request<GetSettlementWindowRequest>,
    ) -> Reply_<SettlementWindow> {
        call!(self, request, "GetSettlementWindow", |r| {
            let st = self.ctx.service.read()?;
            st.settlements
                .window(harambee_settlement::WindowId(r.window_id))
                .map(|w| window_info(&st, w))
                .ok_or_else(|| {
                    FspiopError::new(
                        ErrorCode::ValidationError,
                        format!("window {} does not exist", r.window_id),
                    )
                })
        })
    }

    async fn close_settlement_window(
        &self,
        request: Request<CloseSettlementWindowRequest>,
    ) -> Reply_<SettlementWindow> {
        call!(
            self,
            request,
            "CloseSettlementWindow",
            Need::Role(OperatorRole::SettlementOperator),
            |r, by| {
                let currency = validate::currency("currency", &r.currency)?;
                reason("reason", &r.reason)?;
                let command = SettlementCommand::CloseWindow {
                    currency,
                    reason: r.reason.clone(),
                    now_ms: self.ctx.service.now_ms(),
                };
                match self.ctx.service.settlement(&by, command).await? {
                    SettlementReply::WindowClosed { closed, .. } => {
                        let st = self.ctx.service.read()?;
                        st.settlements
                            .window(closed)
                            .map(|w| window_info(&st, w))
                            .ok_or_else(|| {
                                FspiopError::new(
                                    ErrorCode::InternalServerError,
                                    "closed window not found",
                                )
                            })
                    }
                    _ => Err(FspiopError::new(
                        ErrorCode::InternalServerError,
                        "unexpected reply",
                    )),
                }
            }
        )
    }
    async fn create_settlement(
        &self,
        request: Request<CreateSettlementRequest>,
    ) -> Reply_<Settlement> {
        call!(
            self,
            request,
            "CreateSettlement",
            Need::Role(OperatorRole::SettlementOperator),
            |r, by| {
                let currency = validate::currency("currency", &r.currency)?;
                let model = match SettlementModel::try_from(r.model) {
                    Ok(SettlementModel::DeferredMultilateralNet) => {
                        harambee_settlement::SettlementModel::MultilateralNet
                    }
                    Ok(SettlementModel::DeferredBilateralNet) => {
                        harambee_settlement::SettlementModel::BilateralNet
                    }
                    Ok(SettlementModel::ImmediateGross) => {
                        harambee_settlement::SettlementModel::ImmediateGross
                    }
                    _ => {
                        return Err(FspiopError::new(
                            ErrorCode::ValidationError,
                            "model: required",
                        ));
                    }
                };
                if r.window_ids.is_empty() || r.window_ids.len() > SETTLEMENT_WINDOWS_MAX {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        format!("window_ids: 1 to {SETTLEMENT_WINDOWS_MAX} windows"),
                    ));
                }
                reason("reason", &r.reason)?;
                let command = SettlementCommand::CreateSettlement {
                    currency,
                    model,
                    window_ids: r.window_ids.clone(),
                    reason: r.reason.clone(),
                    now_ms: self.ctx.service.now_ms(),
                };
                match self.ctx.service.settlement(&by, command).await? {
                    SettlementReply::SettlementCreated(id) => self.settlement_info(id),
                    _ => Err(FspiopError::new(
                        ErrorCode::InternalServerError,
                        "unexpected reply",
                    )),
                }
            }
        )
    }

    async fn get_settlement(&self, request: Request<GetSettlementRequest>) -> Reply_<Settlement> {
        call!(self, request, "GetSettlement", |r| self.settlement_info(
            harambee_settlement::SettlementId(r.settlement_id)
        ))
    }

    async fn list_settlements(
        &self,
        request: Request<ListSettlementsRequest>,
    ) -> Reply_<ListSettlementsResponse> {
        call!(self, request, "ListSettlements", |r| {
            let currency = if r.currency.is_empty() {
                None
            } else {
                Some(validate::currency("currency", &r.currency)?)
            };
            let state = match SettlementState::try_from(r.state) {
                Ok(SettlementState::Unspecified) => None,
                Ok(s) => Some(s as i32),
                Err(_) => {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "state: unknown",
                    ));
                }
            };
            let page = r.page.clone().unwrap_or_default();
            let size = page_size(&page);
            let after = id_page_token(&page)?;
            let ids: Vec<harambee_settlement::SettlementId> = {
                let st = self.ctx.service.read()?;
                st.settlements
                    .settlements()
                    .iter()
                    .filter(|x| x.id.0 > after)
                    .filter(|x| currency.is_none_or(|c| x.currency == c))
                    .map(|x| x.id)
                    .collect()
            };
            let mut settlements = Vec::new();
            for id in ids {
                let info = self.settlement_info(id)?;
                if state.is_none_or(|s| info.state == s) {
                    settlements.push(info);
                }
                if settlements.len() > size {
                    break;
                }
            }
            let (settlements, page) = page_of(settlements, size, |x| x.settlement_id.to_string());
            Ok(ListSettlementsResponse {
                settlements,
                page: Some(page),
            })
        })
    }

    async fn advance_settlement_participant(
        &self,
        request: Request<AdvanceSettlementParticipantRequest>,
    ) -> Reply_<Settlement> {
        call!(
            self,
            request,
            "AdvanceSettlementParticipant",
            Need::Role(OperatorRole::SettlementOperator),
            |r, by| {
                use harambee_settlement::SettlementState as S;
                let participant = self.participant_ref(&r.fsp_id)?;
                let to = match SettlementState::try_from(r.target) {
                    Ok(SettlementState::PsTransfersRecorded) => S::PsTransfersRecorded,
                    Ok(SettlementState::PsTransfersReserved) => S::PsTransfersReserved,
                    Ok(SettlementState::PsTransfersCommitted) => S::PsTransfersCommitted,
                    Ok(SettlementState::Settled) => S::Settled,
                    _ => {
                        return Err(FspiopError::new(
                            ErrorCode::ValidationError,
                            "target: PS_TRANSFERS_RECORDED, PS_TRANSFERS_RESERVED, PS_TRANSFERS_COMMITTED or SETTLED",
                        ));
                    }
                };
                reason("reason", &r.reason)?;
                reason("external_reference", &r.external_reference)?;
                let command = SettlementCommand::Advance {
                    settlement_id: r.settlement_id,
                    participant,
                    to,
                    external_reference: r.external_reference.clone(),
                    now_ms: self.ctx.service.now_ms(),
                };
                self.settlement_command(&by, command).await
            }
        )
    }

    async fn abort_settlement(
        &self,
        request: Request<AbortSettlementRequest>,
    ) -> Reply_<Settlement> {
        call!(
            self,
            request,
            "AbortSettlement",
            Need::Role(OperatorRole::SettlementOperator),
            |r, by| {
                reason("reason", &r.reason)?;
                let command = SettlementCommand::Abort {
                    settlement_id: r.settlement_id,
                    now_ms: self.ctx.service.now_ms(),
                };
                self.settlement_command(&by, command).await
            }
        )
    }

    async fn get_settlement_report(
        &self,
        request: Request<GetSettlementReportRequest>,
    ) -> Reply_<Report> {
        call!(self, request, "GetSettlementReport", |r| {
            let kind = ReportKind::try_from(r.kind)
                .ok()
                .filter(|k| *k != ReportKind::Unspecified)
                .ok_or_else(|| FspiopError::new(ErrorCode::ValidationError, "kind: required"))?;
            let csv = match ReportFormat::try_from(r.format) {
                Ok(ReportFormat::Csv) => true,
                Ok(ReportFormat::Json | ReportFormat::Unspecified) => false,
                Err(_) => {
                    return Err(FspiopError::new(
                        ErrorCode::ValidationError,
                        "format: unknown",
                    ));
                }
            };
            let st = self.ctx.service.read()?;
            harambee_service::rows::settlement_report(
                &st,
                harambee_settlement::SettlementId(r.settlement_id),
                kind,
                csv,
            )
        })
    }

    async fn get_ledger_digest(
        &self,
        request: Request<GetLedgerDigestRequest>,
    ) -> Reply_<LedgerDigest> {
        call!(self, request, "GetLedgerDigest", |_r| {
            let st = self.ctx.service.read()?;
            Ok(LedgerDigest {
                digest: st.ledger.digest().to_hex(),
                log_offset: st.next_offset,
                balanced: st.ledger.check_invariants().is_ok(),
                transfer_count: st.ledger.transfer_count() as u64,
                writer: self.ctx.service.is_writer(),
                writer_node: st
                    .directory
                    .writer()
                    .map(|(node, _)| node.to_string())
                    .unwrap_or_default(),
            })
        })
    }

    async fn verify_log_chain(
        &self,
        request: Request<VerifyLogChainRequest>,
    ) -> Reply_<LogChainStatus> {
        call!(self, request, "VerifyLogChain", |_r| {
            let verified = Some(validate::timestamp(self.ctx.service.now_ms()));
            let Some(status) = self.ctx.service.verify_log_chain().await? else {
                return Ok(LogChainStatus {
                    available: false,
                    verified,
                    ..LogChainStatus::default()
                });
            };
            Ok(LogChainStatus {
                intact: status.broken.is_none(),
                records: status.verified.records,
                void_records: status.verified.void,
                head: status.verified.head.clone(),
                break_offset: status.broken.as_ref().map_or(0, |b| b.offset()),
                break_description: status
                    .broken
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                verified,
                available: true,
                complete: status.complete,
            })
        })
    }

    async fn list_operator_actions(
        &self,
        request: Request<ListOperatorActionsRequest>,
    ) -> Reply_<ListOperatorActionsResponse> {
        call!(self, request, "ListOperatorActions", |r| {
            validate::note("operator", &r.operator)?;
            let limit = match r.limit as usize {
                0 => 100,
                n => n.min(PAGE_SIZE_MAX),
            };
            let operator = (!r.operator.is_empty()).then_some(r.operator.as_str());
            let (actions, kept) = self.ctx.service.operator_actions(operator, limit).await?;
            Ok(ListOperatorActionsResponse {
                actions: actions
                    .into_iter()
                    .map(|a| OperatorAction {
                        log_offset: a.offset,
                        time: Some(validate::timestamp(a.time_ms)),
                        operator: a.operator,
                        role: a.role,
                        action: a.action,
                        details: a.details.to_string(),
                    })
                    .collect(),
                kept: kept as u64,
            })
        })
    }

    async fn list_funds(&self, request: Request<ListFundsRequest>) -> Reply_<ListFundsResponse> {
        call!(self, request, "ListFunds", |r| self.list_funds(&r))
    }
}
