//! The ports of the service layer: what its flows need from outside, as
//! traits, so that a flow does not know which transport reaches a
//! participant or where the time comes from.

use std::time::Duration;

use async_trait::async_trait;
use harambee_core::error::{ErrorCode, SwitchError};
use harambee_core::record::PrepareTerms;
use harambee_ledger::{Currency, TransferId};
use harambee_proto::v1::{Notification, Party, PartyIdentifier, QuoteRequest, QuoteTerms};
use rust_decimal::Decimal;

/// The clock: milliseconds since the Unix epoch. Times enter the log inside
/// commands; applying never reads a clock.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        harambee_engine::clock::now_ms()
    }
}

/// What the payee is asked to fulfil: a reserved transfer, as the payer
/// prepared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferAsk {
    pub transfer_id: TransferId,
    pub payer: String,
    pub payee: String,
    pub amount: Decimal,
    pub currency: Currency,
    pub condition: [u8; 32],
    pub expires_at_ms: i64,
    /// The ILP packet, quote and transaction ids and extensions, as the
    /// payer sent them (and as the prepare record keeps them).
    pub terms: PrepareTerms,
}

/// What the payee answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayeeAnswer {
    /// The fulfilment (not yet checked against the condition).
    Fulfilled([u8; 32]),
    /// A fulfilment that is not 32 bytes of base64url.
    Malformed,
    /// Refused with this FSPIOP code.
    Rejected(u16),
    /// The payee has the transfer and answers later with a fulfil request
    /// of its own.
    Later,
    /// No answer within the time given.
    NoAnswer,
    /// The payee could not be reached or failed (this FSPIOP code).
    Unreachable(u16),
}

/// How the switch reaches a participant: by the protocol its endpoints
/// speak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Its `PayeeCallback` gRPC service at this URL.
    Grpc(String),
    /// Its FSPIOP callback URLs (the directory's typed endpoints).
    Fspiop(FspiopEndpoints),
    /// A legacy host on the ISO 8583 gateway (its endpoint is
    /// `iso8583:<institution id>`): the participant's name.
    Iso8583(String),
}

/// An FSPIOP participant's callback URLs, as the directory holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FspiopEndpoints {
    pub participant: String,
    /// Endpoint type (`FSPIOP_CALLBACK_URL_...`) and URL template.
    pub urls: Vec<(String, String)>,
}

impl FspiopEndpoints {
    /// The URL template registered for `kind`.
    pub fn url(&self, kind: &str) -> Option<&str> {
        self.urls
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, u)| u.as_str())
    }
}

/// Reaches a participant: as the owner of a party, and as the payee of a
/// quote and of a transfer. Every call waits at most `timeout`.
#[async_trait]
pub trait PayeeConnector: Send + Sync + 'static {
    /// The owner's details of `party`, asked for `requester`. An error the
    /// owner answers with is passed on (its code, or 3204 if it has none).
    async fn party(
        &self,
        route: &Route,
        party: &PartyIdentifier,
        requester: &str,
        timeout: Duration,
    ) -> Result<Party, SwitchError>;

    /// The payee's terms for `request` (with `payer.fsp_id` the
    /// authenticated payer). An error the payee answers with is passed on
    /// (its code, or 3205 if it has none); the terms are checked by the
    /// caller.
    async fn quote(
        &self,
        route: &Route,
        request: &QuoteRequest,
        timeout: Duration,
    ) -> Result<QuoteTerms, SwitchError>;

    /// Asks the payee at `route` to fulfil `ask`, waiting at most
    /// `timeout`.
    async fn transfer(&self, route: &Route, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer;
}

/// An oracle: who owns parties of a type the switch's directory does not
/// hold.
#[async_trait]
pub trait Oracle: Send + Sync + 'static {
    /// The participant that owns `party`, according to the oracle at
    /// `url` (the name is checked by the caller).
    async fn owner(
        &self,
        url: &str,
        party: &PartyIdentifier,
        currency: &str,
        timeout: Duration,
    ) -> Result<String, SwitchError>;
}

/// Delivers notices to participants, best effort and without waiting: a
/// notice not delivered stays readable on the participant's stream of
/// notices (see `crate::notices`).
pub trait Notices: Send + Sync + 'static {
    /// Sends `notification` to `participant` by `route`.
    fn deliver(&self, participant: &str, route: &Route, notification: Notification);
}

/// A credential as a transport presents it.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    /// A bearer credential (`authorization: Bearer <credential>`).
    Bearer(&'a str),
    /// A client certificate the TLS handshake verified against the
    /// scheme CA or a registered participant CA.
    Certificate(&'a PeerCertificate),
}

/// The client certificate a TLS connection presented and the handshake
/// verified, as a transport hands it to the service layer (the extension
/// a connection's requests carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// SHA-256 of the certificate's DER.
    pub sha256: [u8; 32],
    /// A registered CA the certificate's chain verified against, with
    /// the certificate's subject among those registered with that CA.
    pub issuer: Option<IssuerMatch>,
}

/// A registered (CA, subject) a certificate matched at its handshake:
/// the certificate chains to the CA and bears the subject. Whom it
/// identifies is looked up at every call, so removing the registration
/// takes effect at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuerMatch {
    /// SHA-256 of the CA certificate's DER.
    pub ca_sha256: [u8; 32],
    /// SHA-256 of the certificate's subject text.
    pub subject_sha256: [u8; 32],
}

/// The CAs participants are registered by, as the TLS layer asks for
/// them at each handshake (the directory's issuer registrations).
pub trait IssuerRegistry: Send + Sync {
    /// A digest of the set of registered CAs (it changes when the set
    /// does) and their DERs, distinct.
    fn trust_anchors(&self) -> ([u8; 32], Vec<Vec<u8>>);
    /// The CAs registered with `subject` (SHA-256 and DER).
    fn issuers_for_subject(&self, subject: &str) -> Vec<([u8; 32], Vec<u8>)>;
    /// The CAs registered by the participants whose callback URLs are on
    /// `host`: what a callback server there may chain to, beside the
    /// scheme CA.
    fn callback_anchors(&self, host: &str) -> Vec<Vec<u8>>;
}

/// Who is at the other end of a connection, as its transport saw it: the
/// value every request on the connection carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    pub remote_addr: Option<std::net::SocketAddr>,
    /// The verified client certificate, on a TLS connection that
    /// presented one.
    pub certificate: Option<PeerCertificate>,
}

impl PeerCertificate {
    /// The certificate as a credential.
    pub fn credential(&self) -> Credential<'_> {
        Credential::Certificate(self)
    }
}

/// What a caller asks to act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A bank or wallet on the participant API.
    Participant,
    /// An operator on the Operator API (which operator role a call needs
    /// is the API's to check, with [`Operator::acting_as`]).
    Operator,
    /// Another node of the cluster, handing records to the writer.
    ClusterNode,
}

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperatorRole {
    /// Participants, endpoints, certificates, currencies, limits, funds,
    /// oracles.
    HubOperator,
    /// Settlement windows, settlements and their reports.
    SettlementOperator,
    /// Reads everything, changes nothing.
    Auditor,
}

impl OperatorRole {
    pub const ALL: [OperatorRole; 3] = [
        OperatorRole::HubOperator,
        OperatorRole::SettlementOperator,
        OperatorRole::Auditor,
    ];

    /// The role's name in configuration and in the log.
    pub fn name(self) -> &'static str {
        match self {
            OperatorRole::HubOperator => "hub-operator",
            OperatorRole::SettlementOperator => "settlement-operator",
            OperatorRole::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<OperatorRole> {
        OperatorRole::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// What an operator call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A read: any operator role may.
    Read,
    /// A change only this role may make.
    Role(OperatorRole),
}

/// An authenticated operator: a name and the roles it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub roles: Vec<OperatorRole>,
}

/// An operator allowed a call, and the role it acts in (what the log
/// records of a change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acting {
    pub operator: String,
    pub role: OperatorRole,
}

impl Operator {
    /// The operator acting for a call that needs `need`; 3000 (permission
    /// denied) if it holds no role that may, naming the call but nothing
    /// of the credential.
    pub fn acting_as(&self, need: Need, call: &str) -> Result<Acting, SwitchError> {
        let role = match need {
            Need::Read => self.roles.first().copied(),
            Need::Role(role) => self.roles.contains(&role).then_some(role),
        };
        role.map(|role| Acting {
            operator: self.name.clone(),
            role,
        })
        .ok_or_else(|| {
            let needed = match need {
                Need::Read => "an operator role".to_string(),
                Need::Role(role) => format!("the {} role", role.name()),
            };
            SwitchError::new(
                ErrorCode::GenericClientError,
                format!("{call} needs {needed}"),
            )
        })
    }
}

/// Who a credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Participant(String),
    Operator(Operator),
    ClusterNode,
}

/// Every credential check of the switch: one path, whatever the API.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal `credential` proves, acting as `role`; 3105 if it
    /// proves none.
    fn authenticate(
        &self,
        credential: Credential<'_>,
        role: Role,
    ) -> Result<Principal, SwitchError>;
}

/// One connector per protocol, each participant reached by the one its
/// route names.
pub struct Routed {
    pub grpc: std::sync::Arc<dyn PayeeConnector>,
    pub fspiop: std::sync::Arc<dyn PayeeConnector>,
    pub iso8583: std::sync::Arc<dyn PayeeConnector>,
}

impl Routed {
    fn by(&self, route: &Route) -> &dyn PayeeConnector {
        match route {
            Route::Grpc(_) => self.grpc.as_ref(),
            Route::Fspiop(_) => self.fspiop.as_ref(),
            Route::Iso8583(_) => self.iso8583.as_ref(),
        }
    }
}

#[async_trait]
impl PayeeConnector for Routed {
    async fn party(
        &self,
        route: &Route,
        party: &PartyIdentifier,
        requester: &str,
        timeout: Duration,
    ) -> Result<Party, SwitchError> {
        self.by(route).party(route, party, requester, timeout).await
    }

    async fn quote(
        &self,
        route: &Route,
        request: &QuoteRequest,
        timeout: Duration,
    ) -> Result<QuoteTerms, SwitchError> {
        self.by(route).quote(route, request, timeout).await
    }

    async fn transfer(&self, route: &Route, ask: &TransferAsk, timeout: Duration) -> PayeeAnswer {
        self.by(route).transfer(route, ask, timeout).await
    }
}

/// Notices delivered by each participant's protocol.
pub struct RoutedNotices {
    pub grpc: std::sync::Arc<dyn Notices>,
    pub fspiop: std::sync::Arc<dyn Notices>,
    pub iso8583: std::sync::Arc<dyn Notices>,
}

impl Notices for RoutedNotices {
    fn deliver(&self, participant: &str, route: &Route, notification: Notification) {
        match route {
            Route::Grpc(_) => self.grpc.deliver(participant, route, notification),
            Route::Fspiop(_) => self.fspiop.deliver(participant, route, notification),
            // A legacy host hears of its credits' outcomes (a reversal
            // advice when one aborts); its other notices stay readable on
            // its stream of notices.
            Route::Iso8583(_) => self.iso8583.deliver(participant, route, notification),
        }
    }
}

/// The scheme of an oracle URL that speaks Mojaloop's oracle API over
/// HTTP (`fspiop+http://...`, `fspiop+https://...`); any other URL is a
/// gRPC `Oracle` service.
pub const FSPIOP_ORACLE_SCHEME: &str = "fspiop+";

/// One oracle client per protocol, chosen by the oracle URL's scheme.
pub struct RoutedOracle {
    pub grpc: std::sync::Arc<dyn Oracle>,
    pub fspiop: std::sync::Arc<dyn Oracle>,
}

#[async_trait]
impl Oracle for RoutedOracle {
    async fn owner(
        &self,
        url: &str,
        party: &PartyIdentifier,
        currency: &str,
        timeout: Duration,
    ) -> Result<String, SwitchError> {
        match url.strip_prefix(FSPIOP_ORACLE_SCHEME) {
            Some(http) => self.fspiop.owner(http, party, currency, timeout).await,
            None => self.grpc.owner(url, party, currency, timeout).await,
        }
    }
}
