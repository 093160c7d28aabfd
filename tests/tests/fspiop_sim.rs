//! The simulator's FSPIOP DFSPs (`harambee_sim::fspiop`): onboarded
//! through the admin API as a Mojaloop operator does, they pay each other
//! and a gRPC participant over FSPIOP, and are paid by it, on one ledger.

use std::sync::Arc;

use harambee_proto::v1::{PartyIdType, PartyIdentifier};
use harambee_sim::client::{self, Outcome};
use harambee_sim::dfsp::{Customer, Dfsp};
use harambee_sim::fspiop::{self, FspiopDfsp, Hub};
use harambee_sim::network::customer_id;
use harambee_tests::*;
use rust_decimal::Decimal;

async fn fspiop_wallet(s: &TestSwitch, name: &str) -> Arc<FspiopDfsp> {
    let customers = (0..3)
        .map(|k| Customer {
            party_type: PartyIdType::Msisdn,
            id: customer_id(name, k),
            display_name: format!("{name} customer {k}"),
        })
        .collect();
    let dfsp = Arc::new(Dfsp::new(
        name,
        [name.len() as u8; 32],
        customers,
        vec![CURRENCY.into()],
        Decimal::ONE,
    ));
    let hub = Hub {
        admin: format!("http://{}", s.running().admin_addr.expect("admin API")),
        fspiop: format!("http://{}", s.running().fspiop_addr.expect("FSPIOP API")),
        operator_token: OPERATOR_TOKEN.into(),
        hub_name: s.config.fspiop.hub_name.clone(),
        tls: None,
    };
    fspiop::onboard(
        &hub,
        dfsp,
        CURRENCY,
        "10000",
        "10000",
        std::future::pending(),
    )
    .await
    .expect("onboarding over the admin API")
}

fn msisdn(id: String) -> PartyIdentifier {
    PartyIdentifier {
        r#type: PartyIdType::Msisdn as i32,
        id,
        sub_id: String::new(),
    }
}

#[tokio::test]
async fn simulated_fspiop_dfsps_pay_and_are_paid_on_one_ledger() {
    // A hub named otherwise than Mojaloop's `Hub`: the DFSPs onboard at
    // `/participants/{hub_name}/accounts` all the same.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestSwitch::config(dir.path());
    config.fspiop.hub_name = "Switch".into();
    let mut s = TestSwitch::start_with(dir, config).await;
    let mut bank = s
        .onboard("bank-a", "10000", "10000", PayeeBehaviour::Honest)
        .await;
    let f = fspiop_wallet(&s, "wallet-f").await;
    let g = fspiop_wallet(&s, "wallet-g").await;
    let payer = f.dfsp.customers().next().expect("a customer").clone();

    // FSPIOP to FSPIOP, FSPIOP to gRPC, gRPC to FSPIOP.
    // Onboarding waited for the oracle's answers: the parties are known.
    let outcome = f
        .pay(&payer, &msisdn(customer_id("wallet-g", 0)), "25", CURRENCY)
        .await;
    assert_eq!(outcome, Outcome::Committed, "wallet-f pays wallet-g");
    assert_eq!(
        f.pay(&payer, &bank.customer(1), "30", CURRENCY).await,
        Outcome::Committed,
        "wallet-f pays bank-a"
    );
    let from = bank.customer(2);
    assert_eq!(
        client::pay(
            &mut bank.api,
            "bank-a",
            from,
            msisdn(customer_id("wallet-g", 1)),
            "40",
            CURRENCY
        )
        .await,
        Outcome::Committed,
        "bank-a pays wallet-g"
    );
    // Two payments to one party at once: both lookups wait for the same
    // callback, and both get it.
    let party = msisdn(customer_id("wallet-g", 2));
    let (one, two) = tokio::join!(
        f.pay(&payer, &party, "2", CURRENCY),
        f.pay(&payer, &party, "2", CURRENCY)
    );
    assert_eq!((one, two), (Outcome::Committed, Outcome::Committed));
    // Nobody: the lookup fails with the owner's 3204.
    assert_eq!(
        f.pay(&payer, &msisdn("254700000000".into()), "5", CURRENCY)
            .await,
        Outcome::Failed("lookup", 3204)
    );

    // The sums on the one ledger: wallet-f sent 59, wallet-g got 69 and
    // bank-a sent 40 and got 30.
    assert_eq!(s.position("wallet-f").await.position, "59.00");
    assert_eq!(s.position("wallet-g").await.position, "-69.00");
    assert_eq!(s.position("bank-a").await.position, "10.00");
    assert!(s.digest().await.balanced);
    let _ = g;
}
