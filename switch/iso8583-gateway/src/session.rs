//! One host connection: framing, network management (sign-on, sign-off,
//! echo), the limit on requests in flight, and the echo test that finds a
//! dead connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harambee_iso8583::{Framing, Message, Mti, decode, decode_prefix, encode, peek_mti};
use harambee_service::Service;
use harambee_service::ports::PeerCertificate;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::acquiring::{self, InFlight};
use crate::hosts::HostBinding;
use crate::issuing::Iso8583Payees;
use crate::reversal;
use crate::{GatewaySettings, HostStream};
use harambee_iso8583::transmission_time;

/// Responses queued for one connection's writer.
const OUTBOX_DEPTH: usize = 1_024;

/// What every connection of the gateway shares.
pub(crate) struct Shared {
    pub service: Arc<Service>,
    pub settings: Arc<GatewaySettings>,
    pub pending: Arc<InFlight>,
    pub payees: Arc<Iso8583Payees>,
}

/// What a financial message asks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Payment,
    Reversal,
}

struct Connection {
    peer: SocketAddr,
    hosts: Arc<Vec<HostBinding>>,
    /// On TLS: the SHA-256 of the host's client certificate, looked up
    /// again for every message (a revoked registration closes the
    /// connection at the next one).
    certificate: Option<PeerCertificate>,
    service: Arc<Service>,
    settings: Arc<GatewaySettings>,
    outbox: mpsc::Sender<Message>,
    /// Signed on: the session the connector knows it by.
    signed_on: Option<u64>,
    in_flight: Arc<Semaphore>,
    pending: Arc<InFlight>,
    payees: Arc<Iso8583Payees>,
}

/// Serves one connection until the host closes it, it breaks the framing,
/// it stops answering echo tests, or the gateway stops.
pub(crate) async fn run(
    stream: Box<dyn HostStream>,
    peer: SocketAddr,
    hosts: Vec<HostBinding>,
    certificate: Option<PeerCertificate>,
    shared: Shared,
    mut stop: watch::Receiver<bool>,
) {
    let Shared {
        service,
        settings,
        pending,
        payees,
    } = shared;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (outbox, mut queued) = mpsc::channel::<Message>(OUTBOX_DEPTH);
    let names: Vec<&str> = hosts.iter().map(|h| h.participant.as_str()).collect();
    tracing::info!(%peer, hosts = ?names, "iso8583: host connected");
    metrics::gauge!("harambee_iso8583_connections").increment(1.0);
    let write_settings = settings.clone();
    let writer_task = tokio::spawn(async move {
        while let Some(m) = queued.recv().await {
            let bytes = match encode(&write_settings.dialect, &m)
                .map_err(|e| e.to_string())
                .and_then(|b| write_settings.framing.frame(&b).map_err(|e| e.to_string()))
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%peer, error = %e, mti = %m.mti, "iso8583: a response that cannot be written");
                    continue;
                }
            };
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            metrics::counter!("harambee_iso8583_messages_total", "direction" => "out", "mti" => m.mti.to_string()).increment(1);
        }
        let _ = writer.shutdown().await;
    });
    let mut c = Connection {
        peer,
        hosts: Arc::new(hosts),
        certificate,
        service,
        in_flight: Arc::new(Semaphore::new(settings.in_flight_max)),
        settings,
        outbox,
        signed_on: None,
        pending,
        payees,
    };
    let reason = c.read_loop(&mut reader, &mut stop).await;
    if let Some(session) = c.signed_on.take() {
        c.payees.signed_off(session);
    }
    tracing::info!(%peer, %reason, "iso8583: connection closed");
    metrics::gauge!("harambee_iso8583_connections").decrement(1.0);
    drop(c);
    let _ = writer_task.await;
}

impl Connection {
    async fn read_loop(
        &mut self,
        reader: &mut (impl AsyncRead + Unpin),
        stop: &mut watch::Receiver<bool>,
    ) -> String {
        let mut buf: Vec<u8> = Vec::with_capacity(4_096);
        let mut chunk = vec![0u8; 4_096];
        let idle = Duration::from_millis(self.settings.idle_ms);
        let mut echo_sent: Option<Instant> = None;
        loop {
            // Every whole message read so far.
            loop {
                match self.next_message(&mut buf) {
                    Ok(Some(message)) => {
                        if let Err(reason) = self.take(&message, &mut echo_sent) {
                            return reason;
                        }
                    }
                    Ok(None) => break,
                    Err(reason) => return reason,
                }
            }
            let wait = match echo_sent {
                Some(at) => Duration::from_millis(self.settings.echo_timeout_ms)
                    .saturating_sub(at.elapsed()),
                None => idle,
            };
            tokio::select! {
                read = tokio::time::timeout(wait, reader.read(&mut chunk)) => match read {
                    Ok(Ok(0)) => return "closed by the host".into(),
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                    Ok(Err(e)) => return format!("read: {e}"),
                    Err(_) if echo_sent.is_some() => {
                        return "no answer to the echo test: dead".into();
                    }
                    Err(_) => {
                        let mut echo = Message::new(Mti::new(b"0800").expect("a constant MTI"));
                        echo.set(7, transmission_time(self.service.now_ms()))
                            .set(11, self.payees.next_stan())
                            .set(70, "301");
                        if self.outbox.try_send(echo).is_err() {
                            return "the outbox is full".into();
                        }
                        echo_sent = Some(Instant::now());
                    }
                },
                _ = crate::stopped(stop) => return "the gateway stops".into(),
            }
        }
    }

    /// The next whole message in `buf`, taken out of it; `None` until
    /// more is read. Without headers the dialect says where a message
    /// ends (so it is decoded here and again by `take`); bytes that cannot
    /// begin one are offered whole, to be answered 39=30 or to close.
    fn next_message(&self, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        let limit = self.settings.message_max;
        if self.settings.framing == Framing::None {
            if buf.is_empty() {
                return Ok(None);
            }
            return Ok(match decode_prefix(&self.settings.dialect, buf) {
                Ok((_, used)) => Some(buf.drain(..used).collect()),
                Err(e) if e.is_truncated() && buf.len() < limit => None,
                Err(_) => Some(std::mem::take(buf)),
            });
        }
        match self.settings.framing.split(buf, limit) {
            Ok(Some((start, end))) => {
                let message = buf[start..end].to_vec();
                buf.drain(..end);
                Ok(Some(message))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(format!("framing: {e}")),
        }
    }

    fn send(&self, m: Message) -> Result<(), String> {
        self.outbox
            .try_send(m)
            .map_err(|_| "the outbox is full: the host does not read its responses".to_string())
    }

    /// A message whose fields cannot be read: its response with 39=30 if
    /// its MTI can be, else the connection closes.
    fn refuse_malformed(&self, bytes: &[u8], why: &str) -> Result<(), String> {
        metrics::counter!("harambee_iso8583_malformed_total").increment(1);
        match peek_mti(&self.settings.dialect, bytes).and_then(|m| m.response()) {
            Some(response) => {
                tracing::warn!(peer = %self.peer, error = %why, "iso8583: a malformed message, answered 39=30");
                let mut r = Message::new(response);
                r.set(39, "30");
                self.send(r)
            }
            None => Err(format!("a message that cannot be read: {why}")),
        }
    }

    /// One whole message from the host.
    fn take(&mut self, bytes: &[u8], echo_sent: &mut Option<Instant>) -> Result<(), String> {
        if let Some(c) = &self.certificate {
            let owner = crate::certificate_owner(&self.service, c);
            if !owner.is_some_and(|o| self.hosts.iter().any(|h| h.participant == o)) {
                metrics::counter!("harambee_iso8583_connections_revoked_total").increment(1);
                return Err("the host's certificate is no longer registered to it".into());
            }
        }
        let message = match decode(&self.settings.dialect, bytes) {
            Ok(m) => m,
            Err(e) => return self.refuse_malformed(bytes, &e.to_string()),
        };
        metrics::counter!("harambee_iso8583_messages_total", "direction" => "in", "mti" => message.mti.to_string()).increment(1);
        match message.mti.as_bytes() {
            b"0800" => self.network(&message),
            b"0810" => {
                // The answer to our echo test (or a host's to anything).
                *echo_sent = None;
                Ok(())
            }
            // A host's answer to the switch's 0200 credit or 0420 advice.
            // Taken only from a signed-on connection of the host it was
            // sent to, so that no host can answer for another.
            b"0210" | b"0430" => {
                if self.signed_on.is_some() {
                    let names: Vec<&str> =
                        self.hosts.iter().map(|h| h.participant.as_str()).collect();
                    self.payees.answered(message, &names);
                } else {
                    tracing::info!(peer = %self.peer, mti = %message.mti, "iso8583: an answer before sign-on, ignored");
                }
                Ok(())
            }
            b"0200" | b"0201" => self.financial(message, Kind::Payment),
            b"0400" | b"0401" | b"0420" | b"0421" => self.financial(message, Kind::Reversal),
            _ => match message.mti.response() {
                // Not served (authorizations, other advices): refused
                // with 12, never taken silently.
                Some(_) => self.send(message.response_to(acquiring::ECHOED, "12")),
                None => {
                    tracing::debug!(peer = %self.peer, mti = %message.mti, "iso8583: a response nobody asked for");
                    Ok(())
                }
            },
        }
    }

    /// A payment or a reversal: refused 91 before sign-on, over the
    /// connection's limit of requests in flight, or over its participant's
    /// limits (the switch's admission), else run on its own task and
    /// answered when it is done. (A reversal advice over a limit is left
    /// unanswered instead, for the host to repeat: it takes any 0430 as
    /// done.)
    fn financial(&mut self, message: Message, kind: Kind) -> Result<(), String> {
        let echoed = match kind {
            Kind::Payment => acquiring::ECHOED,
            Kind::Reversal => reversal::ECHOED,
        };
        if self.signed_on.is_none() {
            return self.send(message.response_to(echoed, "91"));
        }
        let busy = |c: &Connection, message: &Message| {
            if kind == Kind::Reversal && reversal::is_advice(message) {
                tracing::warn!(peer = %c.peer, "iso8583: a reversal advice over the limits, left unanswered for the host to repeat");
                return Ok(());
            }
            c.send(message.response_to(echoed, "91"))
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            return busy(self, &message);
        };
        // Within the participant's own limits, across every API; a field
        // 32 no host of the connection has is refused (63) further on.
        let institution = message.text(32).unwrap_or_default().trim();
        let participant = self
            .hosts
            .iter()
            .find(|h| h.institution_id == institution)
            .map(|h| h.participant.clone());
        let admitted = match participant {
            Some(p) => match self.service.admit(&p) {
                Ok(a) => Some(a),
                Err(_) => return busy(self, &message),
            },
            None => None,
        };
        // A payment is registered before its task starts, so that a
        // reversal read after it on this connection finds it running.
        let checked = (kind == Kind::Payment).then(|| self.pending.register(&self.hosts, &message));
        let (service, settings, hosts, pending, outbox) = (
            self.service.clone(),
            self.settings.clone(),
            self.hosts.clone(),
            self.pending.clone(),
            self.outbox.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let response = match checked {
                Some(checked) => {
                    Some(acquiring::pay(&service, &settings, &pending, &message, checked).await)
                }
                None => reversal::reverse(&service, &settings, &hosts, &pending, &message).await,
            };
            let Some(response) = response else {
                return;
            };
            let code = response.text(39).unwrap_or("96").to_string();
            let (request, answer) = (message.mti.to_string(), response.mti.to_string());
            metrics::histogram!("harambee_iso8583_request_seconds", "mti" => request)
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("harambee_iso8583_responses_total", "mti" => answer, "code" => code)
                .increment(1);
            drop((permit, admitted));
            let _ = outbox.send(response).await;
        });
        Ok(())
    }

    /// 0800: sign-on (70=001), sign-off (002), echo (301).
    fn network(&mut self, m: &Message) -> Result<(), String> {
        const ECHOED: &[usize] = &[7, 11, 12, 13, 32, 70];
        let code = match m.text(70) {
            Some("001") => {
                if self.signed_on.is_none() {
                    let names: Vec<String> =
                        self.hosts.iter().map(|h| h.participant.clone()).collect();
                    self.signed_on = Some(self.payees.signed_on(&names, &self.outbox));
                }
                tracing::info!(peer = %self.peer, "iso8583: signed on");
                "00"
            }
            Some("002") => {
                if let Some(session) = self.signed_on.take() {
                    self.payees.signed_off(session);
                }
                tracing::info!(peer = %self.peer, "iso8583: signed off");
                "00"
            }
            Some("301") => "00",
            _ => "30",
        };
        self.send(m.response_to(ECHOED, code))
    }
}
