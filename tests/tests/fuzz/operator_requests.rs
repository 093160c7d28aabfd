// The fuzz driver of the Operator API's requests, shared by
// `examples/fuzz_operator_requests.rs` (the long run) and
// `tests/fuzz_operator_requests.rs` (a short run in every test run).
// Included with `#[path]`; not a test target of its own.
//
// The Operator API's checks run inside the service's operations, so the
// driver runs them there: a real switch (the embedded default) and its
// Operator API service, called in-process as tonic calls it, with the
// operator's credential. Every request that changes something (valid
// requests mutated, and random bytes; one payment made first, so that the
// settlement requests have a window to close) is decoded as the server decodes
// it and handed to the service; whatever it records goes to the log. A
// panic is the failure; at the end the ledger must balance and a restart
// (a replay of everything recorded) must come back to the same digest.

use harambee_grpc::operator_api::OperatorService;
use harambee_proto::v1::operator_api_server::OperatorApi;
use harambee_proto::v1::*;
use harambee_tests::*;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[path = "mutate.rs"]
mod mutate;

/// How many inputs of each request were tried, decoded and done (the
/// service answered OK).
#[derive(Debug, Default)]
pub struct Tally {
    pub tried: u64,
    pub decoded: u64,
    pub done: u64,
}

/// Every request of the Operator API.
pub const KINDS: [&str; 41] = [
    "CreateParticipant",
    "RotateCredential",
    "GetParticipant",
    "ListParticipants",
    "SetParticipantActive",
    "SetAccountActive",
    "SetEndpoint",
    "AddParticipantCertificate",
    "RemoveParticipantCertificate",
    "ListParticipantCertificates",
    "AddParticipantIssuer",
    "RemoveParticipantIssuer",
    "AddCurrency",
    "ListCurrencies",
    "AddParticipantCurrency",
    "GetAccounts",
    "GetPositions",
    "SetNetDebitCap",
    "SetSettlementModel",
    "FundsIn",
    "FundsOutReserve",
    "FundsOutCommit",
    "FundsOutAbort",
    "SetOracle",
    "ListOracles",
    "GetTransfer",
    "ListTransfers",
    "ListPostings",
    "ListSettlementWindows",
    "GetSettlementWindow",
    "CloseSettlementWindow",
    "CreateSettlement",
    "GetSettlement",
    "ListSettlements",
    "AdvanceSettlementParticipant",
    "AbortSettlement",
    "GetSettlementReport",
    "GetLedgerDigest",
    "ListFunds",
    "VerifyLogChain",
    "ListOperatorActions",
];

const FUNDS_IN_ID: &str = "8f14e45f-ceea-467f-a8f5-6a1e1a2b3c4d";
const FUNDS_OUT_ID: &str = "9e14e45f-ceea-467f-a8f5-6a1e1a2b3c4e";

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: CURRENCY.into(),
    })
}

/// What the certificate requests carry: a certificate of a development
/// PKI for bank-a, its subject, and the PKI's CA.
struct Pems {
    certificate: String,
    certificate_sha256: String,
    /// The payment made first.
    transfer_id: String,
    subject: String,
    ca: String,
    ca_sha256: String,
}

/// Valid requests of each kind, encoded, in the order of [`KINDS`].
fn corpus(pems: &Pems) -> Vec<Vec<u8>> {
    vec![
        CreateParticipantRequest {
            fsp_id: "bank-c".into(),
            kind: ParticipantKind::Bank as i32,
            name: "Bank C".into(),
        }
        .encode_to_vec(),
        RotateCredentialRequest {
            fsp_id: "bank-c".into(),
        }
        .encode_to_vec(),
        GetParticipantRequest {
            fsp_id: "bank-a".into(),
        }
        .encode_to_vec(),
        ListParticipantsRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
        }
        .encode_to_vec(),
        SetParticipantActiveRequest {
            fsp_id: "bank-b".into(),
            active: true,
        }
        .encode_to_vec(),
        SetAccountActiveRequest {
            fsp_id: "bank-b".into(),
            currency: CURRENCY.into(),
            r#type: AccountType::Position as i32,
            active: true,
        }
        .encode_to_vec(),
        SetEndpointRequest {
            fsp_id: "bank-a".into(),
            url: "https://localhost:9".into(),
        }
        .encode_to_vec(),
        AddParticipantCertificateRequest {
            fsp_id: "bank-a".into(),
            certificate_pem: pems.certificate.clone(),
        }
        .encode_to_vec(),
        RemoveParticipantCertificateRequest {
            fsp_id: "bank-a".into(),
            sha256: pems.certificate_sha256.clone(),
        }
        .encode_to_vec(),
        ListParticipantCertificatesRequest {
            fsp_id: "bank-a".into(),
        }
        .encode_to_vec(),
        AddParticipantIssuerRequest {
            fsp_id: "bank-a".into(),
            ca_certificate_pem: pems.ca.clone(),
            subject: pems.subject.clone(),
        }
        .encode_to_vec(),
        RemoveParticipantIssuerRequest {
            fsp_id: "bank-a".into(),
            ca_sha256: pems.ca_sha256.clone(),
            subject: pems.subject.clone(),
        }
        .encode_to_vec(),
        AddCurrencyRequest {
            currency: "TZS".into(),
        }
        .encode_to_vec(),
        ListCurrenciesRequest {}.encode_to_vec(),
        AddParticipantCurrencyRequest {
            fsp_id: "bank-c".into(),
            currency: CURRENCY.into(),
            net_debit_cap: "1000.50".into(),
            settlement_model: SettlementModel::DeferredMultilateralNet as i32,
        }
        .encode_to_vec(),
        GetAccountsRequest {
            fsp_id: "bank-a".into(),
        }
        .encode_to_vec(),
        GetPositionsRequest {
            fsp_id: "bank-a".into(),
        }
        .encode_to_vec(),
        SetNetDebitCapRequest {
            fsp_id: "bank-a".into(),
            currency: CURRENCY.into(),
            net_debit_cap: "2500".into(),
        }
        .encode_to_vec(),
        SetSettlementModelRequest {
            fsp_id: "bank-b".into(),
            currency: CURRENCY.into(),
            model: SettlementModel::DeferredMultilateralNet as i32,
        }
        .encode_to_vec(),
        FundsRequest {
            funds_id: FUNDS_IN_ID.into(),
            fsp_id: "bank-a".into(),
            amount: money("10.25"),
            reason: "deposit".into(),
        }
        .encode_to_vec(),
        FundsRequest {
            funds_id: FUNDS_OUT_ID.into(),
            fsp_id: "bank-b".into(),
            amount: money("1.75"),
            reason: "withdrawal".into(),
        }
        .encode_to_vec(),
        FundsActionRequest {
            funds_id: FUNDS_OUT_ID.into(),
            reason: "paid out".into(),
        }
        .encode_to_vec(),
        FundsActionRequest {
            funds_id: FUNDS_OUT_ID.into(),
            reason: "cancelled".into(),
        }
        .encode_to_vec(),
        SetOracleRequest {
            party_type: PartyIdType::AccountId as i32,
            url: "http://127.0.0.1:9".into(),
        }
        .encode_to_vec(),
        ListOraclesRequest {}.encode_to_vec(),
        GetTransferRequest {
            transfer_id: pems.transfer_id.clone(),
        }
        .encode_to_vec(),
        ListTransfersRequest {
            fsp_id: "bank-a".into(),
            ..ListTransfersRequest::default()
        }
        .encode_to_vec(),
        ListPostingsRequest {
            fsp_id: "bank-a".into(),
            reference: pems.transfer_id.clone(),
            page: None,
        }
        .encode_to_vec(),
        ListSettlementWindowsRequest {
            currency: CURRENCY.into(),
            ..ListSettlementWindowsRequest::default()
        }
        .encode_to_vec(),
        GetSettlementWindowRequest { window_id: 1 }.encode_to_vec(),
        CloseSettlementWindowRequest {
            currency: CURRENCY.into(),
            reason: "end of day".into(),
        }
        .encode_to_vec(),
        CreateSettlementRequest {
            currency: CURRENCY.into(),
            model: SettlementModel::DeferredMultilateralNet as i32,
            window_ids: vec![1],
            reason: "settle".into(),
        }
        .encode_to_vec(),
        GetSettlementRequest { settlement_id: 1 }.encode_to_vec(),
        ListSettlementsRequest {
            currency: CURRENCY.into(),
            ..ListSettlementsRequest::default()
        }
        .encode_to_vec(),
        AdvanceSettlementParticipantRequest {
            settlement_id: 1,
            fsp_id: "bank-a".into(),
            target: SettlementState::PsTransfersRecorded as i32,
            reason: "recorded".into(),
            external_reference: "ref-1".into(),
        }
        .encode_to_vec(),
        AbortSettlementRequest {
            settlement_id: 1,
            reason: "abort".into(),
        }
        .encode_to_vec(),
        GetSettlementReportRequest {
            settlement_id: 1,
            kind: ReportKind::NetPositions as i32,
            ..GetSettlementReportRequest::default()
        }
        .encode_to_vec(),
        GetLedgerDigestRequest {}.encode_to_vec(),
        ListFundsRequest {
            fsp_id: "bank-a".into(),
            state: FundsState::Reserved as i32,
            page: None,
        }
        .encode_to_vec(),
        VerifyLogChainRequest {}.encode_to_vec(),
        ListOperatorActionsRequest {
            operator: "operator".into(),
            limit: 10,
        }
        .encode_to_vec(),
    ]
}

/// Some valid requests go unchanged (no mutation): the operations
/// themselves run.
fn input(rng: &mut StdRng, valid: &[u8], out: &mut Vec<u8>) {
    mutate::input(rng, valid, out, 0..4);
}

/// Decodes `bytes` as `T` and hands it to `call`: (decoded, done).
macro_rules! call {
    ($svc:expr, $bytes:expr, $t:ty, $method:ident) => {
        match <$t>::decode($bytes) {
            Ok(r) => (true, $svc.$method(op_req(r)).await.is_ok()),
            Err(_) => (false, false),
        }
    };
}

async fn check(svc: &OperatorService, kind: usize, bytes: &[u8]) -> (bool, bool) {
    match KINDS[kind] {
        "CreateParticipant" => call!(svc, bytes, CreateParticipantRequest, create_participant),
        "RotateCredential" => call!(svc, bytes, RotateCredentialRequest, rotate_credential),
        "GetParticipant" => call!(svc, bytes, GetParticipantRequest, get_participant),
        "ListParticipants" => call!(svc, bytes, ListParticipantsRequest, list_participants),
        "SetParticipantActive" => call!(
            svc,
            bytes,
            SetParticipantActiveRequest,
            set_participant_active
        ),
        "SetAccountActive" => call!(svc, bytes, SetAccountActiveRequest, set_account_active),
        "SetEndpoint" => call!(svc, bytes, SetEndpointRequest, set_endpoint),
        "AddParticipantCertificate" => call!(
            svc,
            bytes,
            AddParticipantCertificateRequest,
            add_participant_certificate
        ),
        "RemoveParticipantCertificate" => call!(
            svc,
            bytes,
            RemoveParticipantCertificateRequest,
            remove_participant_certificate
        ),
        "ListParticipantCertificates" => call!(
            svc,
            bytes,
            ListParticipantCertificatesRequest,
            list_participant_certificates
        ),
        "AddParticipantIssuer" => call!(
            svc,
            bytes,
            AddParticipantIssuerRequest,
            add_participant_issuer
        ),
        "RemoveParticipantIssuer" => call!(
            svc,
            bytes,
            RemoveParticipantIssuerRequest,
            remove_participant_issuer
        ),
        "AddCurrency" => call!(svc, bytes, AddCurrencyRequest, add_currency),
        "ListCurrencies" => call!(svc, bytes, ListCurrenciesRequest, list_currencies),
        "AddParticipantCurrency" => call!(
            svc,
            bytes,
            AddParticipantCurrencyRequest,
            add_participant_currency
        ),
        "GetAccounts" => call!(svc, bytes, GetAccountsRequest, get_accounts),
        "GetPositions" => call!(svc, bytes, GetPositionsRequest, get_positions),
        "SetNetDebitCap" => call!(svc, bytes, SetNetDebitCapRequest, set_net_debit_cap),
        "SetSettlementModel" => call!(svc, bytes, SetSettlementModelRequest, set_settlement_model),
        "FundsIn" => call!(svc, bytes, FundsRequest, funds_in),
        "FundsOutReserve" => call!(svc, bytes, FundsRequest, funds_out_reserve),
        "FundsOutCommit" => call!(svc, bytes, FundsActionRequest, funds_out_commit),
        "FundsOutAbort" => call!(svc, bytes, FundsActionRequest, funds_out_abort),
        "SetOracle" => call!(svc, bytes, SetOracleRequest, set_oracle),
        "ListOracles" => call!(svc, bytes, ListOraclesRequest, list_oracles),
        "GetTransfer" => call!(svc, bytes, GetTransferRequest, get_transfer),
        "ListTransfers" => call!(svc, bytes, ListTransfersRequest, list_transfers),
        "ListPostings" => call!(svc, bytes, ListPostingsRequest, list_postings),
        "ListSettlementWindows" => call!(
            svc,
            bytes,
            ListSettlementWindowsRequest,
            list_settlement_windows
        ),
        "GetSettlementWindow" => call!(
            svc,
            bytes,
            GetSettlementWindowRequest,
            get_settlement_window
        ),
        "CloseSettlementWindow" => call!(
            svc,
            bytes,
            CloseSettlementWindowRequest,
            close_settlement_window
        ),
        "CreateSettlement" => call!(svc, bytes, CreateSettlementRequest, create_settlement),
        "GetSettlement" => call!(svc, bytes, GetSettlementRequest, get_settlement),
        "ListSettlements" => call!(svc, bytes, ListSettlementsRequest, list_settlements),
        "AdvanceSettlementParticipant" => call!(
            svc,
            bytes,
            AdvanceSettlementParticipantRequest,
            advance_settlement_participant
        ),
        "AbortSettlement" => call!(svc, bytes, AbortSettlementRequest, abort_settlement),
        "GetSettlementReport" => call!(
            svc,
            bytes,
            GetSettlementReportRequest,
            get_settlement_report
        ),
        "GetLedgerDigest" => call!(svc, bytes, GetLedgerDigestRequest, get_ledger_digest),
        "ListFunds" => call!(svc, bytes, ListFundsRequest, list_funds),
        "VerifyLogChain" => call!(svc, bytes, VerifyLogChainRequest, verify_log_chain),
        "ListOperatorActions" => call!(
            svc,
            bytes,
            ListOperatorActionsRequest,
            list_operator_actions
        ),
        other => unreachable!("{other} has no call"),
    }
}

/// Tries `count` inputs, the request kinds in turn, in `lanes` beside
/// each other on a switch of its own; then checks the ledger balances and
/// replays to the same digest.
pub async fn run(seed: u64, count: u64, lanes: usize) -> Vec<Tally> {
    assert!(lanes > 0);
    let mut s = TestSwitch::start().await;
    let pki = tempfile::tempdir().expect("tempdir");
    let dev = harambee_tls::dev::DevPki::open_or_create(pki.path(), 2).expect("PKI");
    let cert = dev
        .issue(harambee_tls::dev::Holder::Participant, "bank-a", &[], false)
        .expect("certificate");
    let certificate = std::fs::read_to_string(&cert.cert_file).expect("pem");
    let ca_der = harambee_tls::certificates_from_pem(&std::fs::read(dev.ca_file()).expect("CA"))
        .expect("CA PEM");
    let mut bank_a = s
        .onboard("bank-a", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    let bank_b = s
        .onboard("bank-b", "1000", "1000", PayeeBehaviour::Honest)
        .await;
    // A payment in the open window: closing it, settling it and
    // advancing its participants are operations, not only refusals.
    let q = quote(&mut bank_a, &bank_b, "12.50").await;
    let paid = bank_a
        .api
        .prepare_transfer(prepare_request(&q, 30_000))
        .await
        .expect("a payment")
        .into_inner();
    let certificate_der = harambee_tls::certificates_from_pem(certificate.as_bytes()).expect("PEM");
    let pems = Pems {
        subject: harambee_service::certificates::subject_of_der(certificate_der[0].as_ref())
            .expect("a subject"),
        certificate_sha256: harambee_core::text::hex(&harambee_tls::certificate_sha256(
            certificate_der[0].as_ref(),
        )),
        ca: std::fs::read_to_string(dev.ca_file()).expect("CA"),
        ca_sha256: harambee_core::text::hex(&harambee_tls::certificate_sha256(ca_der[0].as_ref())),
        transfer_id: paid.transfer_id,
        certificate,
    };
    let corpus = std::sync::Arc::new(corpus(&pems));
    // The lanes run beside each other on the one switch, each with its
    // own generator (seed + lane) and its share of the inputs: their
    // appends are committed together, as concurrent operators' are.
    let mut lanes_running = Vec::with_capacity(lanes);
    for lane in 0..lanes as u64 {
        let svc = OperatorService {
            ctx: s.running().ctx.clone(),
        };
        let corpus = corpus.clone();
        let share = count / lanes as u64 + u64::from(lane < count % lanes as u64);
        lanes_running.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(lane));
            let mut tally: Vec<Tally> = KINDS.iter().map(|_| Tally::default()).collect();
            let mut buf = Vec::with_capacity(4_096);
            for i in 0..share {
                let kind = ((i + lane) % KINDS.len() as u64) as usize;
                input(&mut rng, &corpus[kind], &mut buf);
                let (decoded, done) = check(&svc, kind, &buf).await;
                let t = &mut tally[kind];
                t.tried += 1;
                t.decoded += u64::from(decoded);
                t.done += u64::from(done);
            }
            tally
        }));
    }
    let mut tally: Vec<Tally> = KINDS.iter().map(|_| Tally::default()).collect();
    for lane in lanes_running {
        for (sum, t) in tally.iter_mut().zip(lane.await.expect("no lane panicked")) {
            sum.tried += t.tried;
            sum.decoded += t.decoded;
            sum.done += t.done;
        }
    }
    let before = s.digest().await;
    assert!(before.balanced, "the ledger balances: {before:?}");
    s.restart().await;
    let after = s.digest().await;
    assert_eq!(
        (after.digest, after.log_offset),
        (before.digest, before.log_offset),
        "everything recorded replays to the same state"
    );
    tally
}
