//! A simulated DFSP (bank or wallet): it owns customers, answers the
//! switch's PayeeCallback calls like a real payee, and can be told to
//! misbehave.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harambee_proto::fspiop::{ErrorCode, FspiopError};
use harambee_proto::v1::payee_callback_server::{PayeeCallback, PayeeCallbackServer};
use harambee_proto::v1::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::ilp::{self, TransactionTerms};

/// How the simulated payee answers transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Fulfils every valid transfer.
    Honest,
    /// Rejects every transfer with this FSPIOP code (e.g. 5104).
    Reject(u16),
    /// Rejects every n-th transfer with 5104, fulfils the others.
    RejectEvery(u64),
    /// Answers with a fulfilment that does not match the condition.
    WrongFulfilment,
    /// Waits this long, then fulfils.
    Slow(Duration),
    /// Never answers before the transfer's expiration.
    Silent,
    /// Answers `accepted`: it keeps the transfer (see [`Dfsp::deferred`])
    /// and answers later with a `FulfilTransfer` of its own.
    Deferred,
}

/// A customer of the DFSP.
#[derive(Clone, Debug)]
pub struct Customer {
    /// "MSISDN", "ACCOUNT_ID", ...
    pub party_type: PartyIdType,
    pub id: String,
    pub display_name: String,
}

/// What the payee agreed to, carried in the ILP packet.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Packet {
    transaction_id: String,
    quote_id: String,
    payer_fsp: String,
    payee_fsp: String,
    payee_type: String,
    payee_id: String,
    amount: String,
    currency: String,
    expires_at_ms: i64,
}

impl Packet {
    fn terms(&self) -> TransactionTerms<'_> {
        TransactionTerms {
            transaction_id: &self.transaction_id,
            quote_id: &self.quote_id,
            payer_fsp: &self.payer_fsp,
            payee_fsp: &self.payee_fsp,
            payee_party: (&self.payee_type, &self.payee_id),
            amount: &self.amount,
            currency: &self.currency,
            expires_at_ms: self.expires_at_ms,
        }
    }
}

/// Counters of what the DFSP saw.
#[derive(Default, Debug)]
pub struct Stats {
    pub parties_served: AtomicU64,
    pub quotes: AtomicU64,
    pub transfers_fulfilled: AtomicU64,
    pub transfers_rejected: AtomicU64,
    pub notifications: AtomicU64,
    pub committed_notifications: AtomicU64,
    pub aborted_notifications: AtomicU64,
}

/// A simulated DFSP.
pub struct Dfsp {
    pub name: String,
    secret: [u8; 32],
    customers: HashMap<(i32, String), Customer>,
    /// Fee charged on each quote, in the quote's currency.
    pub fee: Decimal,
    pub currencies: Vec<String>,
    behaviour: Mutex<Behaviour>,
    transfers_seen: AtomicU64,
    pub stats: Stats,
    /// Notifications received, most recent last (at most NOTIFICATIONS_KEPT).
    notifications: Mutex<Vec<Notification>>,
    /// Transfers answered `accepted`, oldest first (at most
    /// NOTIFICATIONS_KEPT).
    deferred: Mutex<Vec<CallbackTransferRequest>>,
}

/// Notifications a simulated DFSP keeps.
pub const NOTIFICATIONS_KEPT: usize = 10_000;
/// Longest a quote of a simulated DFSP stays valid.
pub const QUOTE_VALIDITY_MS: i64 = 60_000;

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

fn error(code: ErrorCode, detail: &str) -> ErrorInformation {
    FspiopError::new(code, detail).to_error_information()
}

impl Dfsp {
    pub fn new(
        name: &str,
        secret: [u8; 32],
        customers: Vec<Customer>,
        currencies: Vec<String>,
        fee: Decimal,
    ) -> Dfsp {
        Dfsp {
            name: name.to_string(),
            secret,
            customers: customers
                .into_iter()
                .map(|c| ((c.party_type as i32, c.id.clone()), c))
                .collect(),
            fee,
            currencies,
            behaviour: Mutex::new(Behaviour::Honest),
            transfers_seen: AtomicU64::new(0),
            stats: Stats::default(),
            notifications: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
        }
    }

    /// The transfers this DFSP answered `accepted` and not yet took.
    pub fn take_deferred(&self) -> Vec<CallbackTransferRequest> {
        std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The fulfilment this DFSP gives a transfer it was asked for
    /// (base64url), or its refusal.
    pub fn fulfilment_for(&self, r: &CallbackTransferRequest) -> Result<String, ErrorInformation> {
        self.fulfil(r)
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap_or_else(|p| p.into_inner()) = b;
    }

    pub fn behaviour(&self) -> Behaviour {
        *self.behaviour.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The customers, in no particular order.
    pub fn customers(&self) -> impl Iterator<Item = &Customer> {
        self.customers.values()
    }

    /// Notifications received so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.notifications
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The customer a party names, if it is one of this DFSP's.
    pub fn customer_of(&self, kind: PartyIdType, id: &str) -> Option<&Customer> {
        self.customers.get(&(kind as i32, id.to_string()))
    }

    /// The DFSP's terms for a quote request, or its refusal.
    pub fn quote_for(&self, r: &QuoteRequest) -> Result<QuoteTerms, ErrorInformation> {
        self.quote_terms(r)
    }

    fn customer(&self, p: Option<&PartyIdentifier>) -> Option<&Customer> {
        let p = p?;
        self.customers.get(&(p.r#type, p.id.clone()))
    }

    fn quote_terms(&self, r: &QuoteRequest) -> Result<QuoteTerms, ErrorInformation> {
        let payee = r.payee.as_ref().and_then(|p| p.identifier.as_ref());
        let Some(customer) = self.customer(payee) else {
            return Err(error(ErrorCode::PartyNotFound, "no such customer"));
        };
        let amount = r
            .amount
            .as_ref()
            .ok_or_else(|| error(ErrorCode::MissingElement, "amount"))?;
        if !self.currencies.contains(&amount.currency) {
            return Err(error(
                ErrorCode::PayeeUnsupportedCurrency,
                &format!("{} not supported", amount.currency),
            ));
        }
        let value = Decimal::from_str(&amount.amount)
            .map_err(|_| error(ErrorCode::ValidationError, "amount"))?;
        let (transfer, receive) = if r.amount_type == AmountType::Receive as i32 {
            (value + self.fee, value)
        } else {
            if value <= self.fee {
                return Err(error(
                    ErrorCode::PayeeRejectedQuote,
                    "amount does not cover the fee",
                ));
            }
            (value, value - self.fee)
        };
        let request_expiry = r
            .expiration
            .as_ref()
            .map(|t| t.seconds * 1000 + i64::from(t.nanos / 1_000_000));
        let expires_at_ms = request_expiry
            .unwrap_or(i64::MAX)
            .min(now_ms() + QUOTE_VALIDITY_MS);
        let packet = Packet {
            transaction_id: r.transaction_id.clone(),
            quote_id: r.quote_id.clone(),
            payer_fsp: r
                .payer
                .as_ref()
                .map(|p| p.fsp_id.clone())
                .unwrap_or_default(),
            payee_fsp: self.name.clone(),
            payee_type: customer.party_type.as_str_name().to_string(),
            payee_id: customer.id.clone(),
            amount: transfer.normalize().to_string(),
            currency: amount.currency.clone(),
            expires_at_ms,
        };
        let fulfilment = ilp::fulfilment(&self.secret, &packet.terms());
        let packet_json = serde_json::to_vec(&packet)
            .map_err(|_| error(ErrorCode::InternalServerError, "packet"))?;
        let money = |d: Decimal| Money {
            amount: d.normalize().to_string(),
            currency: amount.currency.clone(),
        };
        Ok(QuoteTerms {
            transfer_amount: Some(money(transfer)),
            payee_receive_amount: Some(money(receive)),
            payee_fsp_fee: Some(money(self.fee)),
            payee_fsp_commission: Some(Money {
                amount: "0".into(),
                currency: amount.currency.clone(),
            }),
            expiration: Some(timestamp(expires_at_ms)),
            ilp_packet: URL_SAFE_NO_PAD.encode(packet_json),
            condition: ilp::encode(&ilp::condition(&fulfilment)),
            extensions: vec![],
        })
    }

    fn fulfil(&self, r: &CallbackTransferRequest) -> Result<String, ErrorInformation> {
        let bytes = URL_SAFE_NO_PAD.decode(&r.ilp_packet).map_err(|_| {
            error(
                ErrorCode::PayeeFspRejectedTransaction,
                "ILP packet is not base64url",
            )
        })?;
        let packet: Packet = serde_json::from_slice(&bytes).map_err(|_| {
            error(
                ErrorCode::PayeeFspRejectedTransaction,
                "ILP packet is not ours",
            )
        })?;
        let amount = r
            .amount
            .as_ref()
            .ok_or_else(|| error(ErrorCode::MissingElement, "amount"))?;
        let sent = Decimal::from_str(&amount.amount)
            .map_err(|_| error(ErrorCode::ValidationError, "amount"))?;
        if sent.normalize().to_string() != packet.amount || amount.currency != packet.currency {
            return Err(error(
                ErrorCode::PayeeFspRejectedTransaction,
                "the amount is not the quoted amount",
            ));
        }
        if packet.payee_fsp != self.name {
            return Err(error(
                ErrorCode::PayeeFspRejectedTransaction,
                "the packet is for another payee",
            ));
        }
        Ok(ilp::encode(&ilp::fulfilment(&self.secret, &packet.terms())))
    }

    /// Serves the PayeeCallback API on `listen` (port 0: any free port).
    pub async fn serve(
        self: std::sync::Arc<Self>,
        listen: &str,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        self.serve_tls(listen, None, shutdown).await
    }

    /// [`Dfsp::serve`], on TLS when `tls` is given.
    pub async fn serve_tls(
        self: std::sync::Arc<Self>,
        listen: &str,
        tls: Option<tonic::transport::ServerTlsConfig>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let service = PayeeCallbackServer::new(Service(self));
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        let task = tokio::spawn(async move {
            let _ = builder
                .add_service(service)
                .serve_with_incoming_shutdown(
                    // TCP_NODELAY: without it a response written in parts waits
                    // for the peer's delayed ACK (tens of ms).
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    shutdown,
                )
                .await;
        });
        Ok((addr, task))
    }
}

struct Service(std::sync::Arc<Dfsp>);

#[tonic::async_trait]
impl PayeeCallback for Service {
    async fn get_party(
        &self,
        request: Request<GetPartyRequest>,
    ) -> Result<Response<GetPartyResponse>, Status> {
        let d = &self.0;
        let result = match d.customer(request.get_ref().party.as_ref()) {
            Some(c) => {
                d.stats.parties_served.fetch_add(1, Ordering::Relaxed);
                get_party_response::Result::Party(Party {
                    identifier: request.get_ref().party.clone(),
                    fsp_id: d.name.clone(),
                    display_name: c.display_name.clone(),
                    supported_currencies: d.currencies.clone(),
                    ..Default::default()
                })
            }
            None => get_party_response::Result::Error(error(
                ErrorCode::PartyNotFound,
                "no such customer",
            )),
        };
        Ok(Response::new(GetPartyResponse {
            result: Some(result),
        }))
    }

    async fn quote(
        &self,
        request: Request<CallbackQuoteRequest>,
    ) -> Result<Response<CallbackQuoteResponse>, Status> {
        let d = &self.0;
        d.stats.quotes.fetch_add(1, Ordering::Relaxed);
        let r = request.into_inner().request.unwrap_or_default();
        let result = match d.quote_terms(&r) {
            Ok(t) => callback_quote_response::Result::Terms(t),
            Err(e) => callback_quote_response::Result::Error(e),
        };
        Ok(Response::new(CallbackQuoteResponse {
            result: Some(result),
        }))
    }

    async fn transfer(
        &self,
        request: Request<CallbackTransferRequest>,
    ) -> Result<Response<CallbackTransferResponse>, Status> {
        let d = &self.0;
        let r = request.into_inner();
        let n = d.transfers_seen.fetch_add(1, Ordering::Relaxed) + 1;
        let reject = |code: u16| {
            d.stats.transfers_rejected.fetch_add(1, Ordering::Relaxed);
            Ok(Response::new(CallbackTransferResponse {
                result: Some(callback_transfer_response::Result::Error(
                    FspiopError::from_number(code, "rejected by the simulated payee")
                        .to_error_information(),
                )),
            }))
        };
        let fulfilment = match d.behaviour() {
            Behaviour::Deferred => {
                let mut deferred = d.deferred.lock().unwrap_or_else(|p| p.into_inner());
                if deferred.len() < NOTIFICATIONS_KEPT {
                    deferred.push(r);
                }
                return Ok(Response::new(CallbackTransferResponse {
                    result: Some(callback_transfer_response::Result::Accepted(Accepted {})),
                }));
            }
            Behaviour::Reject(code) => return reject(code),
            Behaviour::RejectEvery(k) if k > 0 && n.is_multiple_of(k) => {
                return reject(ErrorCode::PayeeRejectedTransaction.number());
            }
            Behaviour::WrongFulfilment => ilp::encode(&[7u8; 32]),
            Behaviour::Silent => {
                let expiry = r.expiration.as_ref().map(|t| t.seconds * 1000).unwrap_or(0);
                let wait = (expiry - now_ms() + 2_000).clamp(0, 120_000) as u64;
                tokio::time::sleep(Duration::from_millis(wait)).await;
                return Err(Status::deadline_exceeded(
                    "the simulated payee stayed silent",
                ));
            }
            Behaviour::Slow(delay) => {
                tokio::time::sleep(delay).await;
                match d.fulfil(&r) {
                    Ok(f) => f,
                    Err(e) => {
                        return Ok(Response::new(CallbackTransferResponse {
                            result: Some(callback_transfer_response::Result::Error(e)),
                        }));
                    }
                }
            }
            Behaviour::Honest | Behaviour::RejectEvery(_) => match d.fulfil(&r) {
                Ok(f) => f,
                Err(e) => {
                    d.stats.transfers_rejected.fetch_add(1, Ordering::Relaxed);
                    return Ok(Response::new(CallbackTransferResponse {
                        result: Some(callback_transfer_response::Result::Error(e)),
                    }));
                }
            },
        };
        d.stats.transfers_fulfilled.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(CallbackTransferResponse {
            result: Some(callback_transfer_response::Result::Fulfilment(Fulfilment {
                fulfilment,
                completed: Some(timestamp(now_ms())),
                extensions: vec![],
            })),
        }))
    }

    async fn notify(
        &self,
        request: Request<Notification>,
    ) -> Result<Response<NotifyResponse>, Status> {
        let d = &self.0;
        let n = request.into_inner();
        d.stats.notifications.fetch_add(1, Ordering::Relaxed);
        match n.kind {
            Some(notification::Kind::TransferCommitted(_)) => d
                .stats
                .committed_notifications
                .fetch_add(1, Ordering::Relaxed),
            Some(notification::Kind::TransferAborted(_)) => d
                .stats
                .aborted_notifications
                .fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let mut kept = d.notifications.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= NOTIFICATIONS_KEPT {
            kept.remove(0);
        }
        kept.push(n);
        Ok(Response::new(NotifyResponse {}))
    }
}
