//! A participant's client of the switch: authenticated calls and the full
//! payment flow (lookup, quote, transfer).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harambee_proto::fspiop::FspiopError;
use harambee_proto::v1::participant_api_client::ParticipantApiClient;
use harambee_proto::v1::*;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Adds `authorization: Bearer <credential>` to every call (nothing, on
/// mTLS: the certificate is the credential).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(credential: &str) -> anyhow::Result<Bearer> {
        Ok(Bearer(Some(format!("Bearer {credential}").parse()?)))
    }

    /// No bearer credential.
    pub fn none() -> Bearer {
        Bearer(None)
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Api = ParticipantApiClient<InterceptedService<Channel, Bearer>>;

/// Connects to the switch's participant API as a participant.
pub fn connect(url: &str, credential: &str) -> anyhow::Result<Api> {
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(ParticipantApiClient::with_interceptor(
        channel,
        Bearer::new(credential)?,
    ))
}

/// Connects to the switch's participant API on mTLS, presenting
/// `identity`'s certificate (its only credential).
pub fn connect_tls(url: &str, identity: &crate::tls::Identity) -> anyhow::Result<Api> {
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .tls_config(identity.grpc_client())?
        .connect_lazy();
    Ok(ParticipantApiClient::with_interceptor(
        channel,
        Bearer::none(),
    ))
}

/// Where a payment ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The money moved.
    Committed,
    /// The transfer ended ABORTED with this code.
    Aborted(u16),
    /// A step failed with this code: "lookup", "quote" or "transfer".
    Failed(&'static str, u16),
    /// An ISO 8583 host's payment declined with this response code (39).
    Declined(String),
}

impl Outcome {
    /// A short label for reports: "committed", "aborted 4001", "quote 3204".
    pub fn label(&self) -> String {
        match self {
            Outcome::Committed => "committed".into(),
            Outcome::Aborted(code) => format!("aborted {code}"),
            Outcome::Failed(step, code) => format!("{step} failed {code}"),
            Outcome::Declined(code) => format!("declined 39={code}"),
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

fn code(status: &tonic::Status) -> u16 {
    FspiopError::from_status(status).code
}

/// Expiration the simulator gives its transfers.
pub const TRANSFER_EXPIRY_MS: i64 = 30_000;

/// A full payment from the payer's customer `payer`: find the payee, get
/// a quote, transfer the quoted amount.
pub async fn pay(
    api: &mut Api,
    payer_fsp: &str,
    payer: PartyIdentifier,
    payee: PartyIdentifier,
    amount: &str,
    currency: &str,
) -> Outcome {
    let looked_up = match api
        .lookup_party(LookupPartyRequest {
            party: Some(payee),
            currency: currency.into(),
        })
        .await
    {
        Ok(r) => r.into_inner().party.unwrap_or_default(),
        Err(s) => return Outcome::Failed("lookup", code(&s)),
    };
    let quote_request = QuoteRequest {
        quote_id: uuid::Uuid::new_v4().to_string(),
        transaction_id: uuid::Uuid::new_v4().to_string(),
        payee: Some(looked_up.clone()),
        payer: Some(Party {
            identifier: Some(payer),
            fsp_id: payer_fsp.to_string(),
            ..Default::default()
        }),
        amount_type: AmountType::Send as i32,
        amount: Some(Money {
            amount: amount.into(),
            currency: currency.into(),
        }),
        transaction_type: Some(TransactionType {
            scenario: TransactionScenario::Transfer as i32,
            initiator: TransactionInitiator::Payer as i32,
            initiator_type: TransactionInitiatorType::Consumer as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let quote = match api.request_quote(quote_request).await {
        Ok(r) => r.into_inner(),
        Err(s) => return Outcome::Failed("quote", code(&s)),
    };
    // The transfer of a quoted transaction carries the transaction's id,
    // as Mojaloop's DFSPs do (their SDK finds its quote by it).
    let transfer_id = quote.transaction_id.clone();
    transfer_quote_as(api, &quote, transfer_id).await
}

/// Prepares a transfer, with an id of its own, of what a quote agreed.
pub async fn transfer_quote(api: &mut Api, quote: &QuoteResponse) -> Outcome {
    transfer_quote_as(api, quote, uuid::Uuid::new_v4().to_string()).await
}

/// Prepares the transfer `transfer_id` of what a quote agreed.
pub async fn transfer_quote_as(
    api: &mut Api,
    quote: &QuoteResponse,
    transfer_id: String,
) -> Outcome {
    let request = PrepareTransferRequest {
        transfer_id,
        payee_fsp: quote.payee_fsp.clone(),
        amount: quote.transfer_amount.clone(),
        ilp_packet: quote.ilp_packet.clone(),
        condition: quote.condition.clone(),
        expiration: Some(timestamp(now_ms() + TRANSFER_EXPIRY_MS)),
        quote_id: quote.quote_id.clone(),
        transaction_id: quote.transaction_id.clone(),
        extensions: vec![],
    };
    match api.prepare_transfer(request).await {
        Ok(r) => outcome_of(&r.into_inner()),
        Err(s) => Outcome::Failed("transfer", code(&s)),
    }
}

/// The outcome a transfer result reports.
pub fn outcome_of(t: &TransferResult) -> Outcome {
    if t.state == TransferState::Committed as i32 {
        Outcome::Committed
    } else {
        let code = t
            .error
            .as_ref()
            .and_then(|e| harambee_proto::fspiop::parse_code(&e.error_code))
            .unwrap_or(2001);
        Outcome::Aborted(code)
    }
}
