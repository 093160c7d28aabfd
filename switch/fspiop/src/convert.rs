//! FSPIOP's JSON bodies and the switch's canonical messages
//! (`harambee.v1`), both ways: money, times, parties, transaction types,
//! extension lists, quote requests and quote terms. What the body lacks
//! stays empty in the message; the service layer checks it.

use harambee_core::error::{ErrorCode, SwitchError};
use harambee_proto::v1::{
    AmountType, ExtensionItem, Money, Party, PartyIdType, PartyIdentifier, PartyName, QuoteRequest,
    QuoteResponse, QuoteTerms, TransactionInitiator, TransactionInitiatorType, TransactionScenario,
    TransactionType,
};
use prost_types::Timestamp;
use serde_json::{Map, Value, json};

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `{amount, currency}`.
pub fn money_in(v: Option<&Value>) -> Option<Money> {
    let v = v.filter(|v| v.is_object())?;
    let amount = match v.get("amount") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    Some(Money {
        amount,
        currency: text(v, "currency"),
    })
}

pub fn money_out(m: &Money) -> Value {
    json!({ "amount": m.amount, "currency": m.currency })
}

/// Milliseconds since the Unix epoch of an FSPIOP DateTime
/// (`2026-12-01T19:00:00.000Z`, or with an offset).
pub fn parse_datetime_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let f = &frac[..digits];
        let padded = format!("{f:0<3}");
        ms = padded[..3].parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60) * 1000) + ms)
}

/// An FSPIOP DateTime, UTC, with milliseconds.
pub fn format_datetime_ms(ms: i64) -> String {
    harambee_core::text::utc_datetime_ms(ms)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn timestamp_in(v: Option<&Value>, field: &str) -> Result<Option<Timestamp>, SwitchError> {
    let Some(text) = v.and_then(Value::as_str) else {
        return Ok(None);
    };
    let ms = parse_datetime_ms(text).ok_or_else(|| {
        SwitchError::new(
            ErrorCode::ValidationError,
            format!("{field}: {text:?} is not a DateTime"),
        )
    })?;
    Ok(Some(harambee_proto::validate::timestamp(ms)))
}

fn timestamp_out(t: &Timestamp) -> String {
    format_datetime_ms(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// `extensionList: {extension: [{key, value}]}`.
pub fn extensions_in(v: Option<&Value>) -> Vec<ExtensionItem> {
    v.and_then(|e| e.get("extension"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| ExtensionItem {
                    key: text(i, "key"),
                    value: text(i, "value"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn extensions_out(items: &[ExtensionItem], into: &mut Map<String, Value>) {
    if !items.is_empty() {
        let list: Vec<Value> = items
            .iter()
            .map(|e| json!({ "key": e.key, "value": e.value }))
            .collect();
        into.insert("extensionList".into(), json!({ "extension": list }));
    }
}

fn enum_in<T>(text: &str, prefix: &str, from: impl Fn(&str) -> Option<T>, unknown: T) -> T {
    from(&format!("{prefix}{text}")).unwrap_or(unknown)
}

fn enum_out(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_string()
}

/// A party inside a quote (`{partyIdInfo, ...}`, not wrapped in `party`).
fn party_in(v: Option<&Value>) -> Result<Option<Party>, SwitchError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(p) => party_from_body(&json!({ "party": p })).map(Some),
    }
}

fn party_out(p: &Party) -> Value {
    let identifier = p.identifier.clone().unwrap_or_default();
    let mut id_info = json!({
        "partyIdType": party_type_name(identifier.r#type),
        "partyIdentifier": identifier.id,
    });
    if !identifier.sub_id.is_empty() {
        id_info["partySubIdOrType"] = Value::String(identifier.sub_id);
    }
    if !p.fsp_id.is_empty() {
        id_info["fspId"] = Value::String(p.fsp_id.clone());
    }
    let mut party = json!({ "partyIdInfo": id_info });
    if !p.display_name.is_empty() {
        party["name"] = Value::String(p.display_name.clone());
    }
    if !p.merchant_classification_code.is_empty() {
        party["merchantClassificationCode"] = Value::String(p.merchant_classification_code.clone());
    }
    let mut personal = Map::new();
    if let Some(n) = &p.name {
        let mut complex = Map::new();
        for (k, v) in [
            ("firstName", &n.first_name),
            ("middleName", &n.middle_name),
            ("lastName", &n.last_name),
        ] {
            if !v.is_empty() {
                complex.insert(k.into(), Value::String(v.clone()));
            }
        }
        if !complex.is_empty() {
            personal.insert("complexName".into(), Value::Object(complex));
        }
    }
    if !p.date_of_birth.is_empty() {
        personal.insert("dateOfBirth".into(), Value::String(p.date_of_birth.clone()));
    }
    if !personal.is_empty() {
        party["personalInfo"] = Value::Object(personal);
    }
    party
}

/// `POST /quotes`'s body as the canonical request.
pub fn quote_request_in(body: &Value) -> Result<QuoteRequest, SwitchError> {
    let tt = body.get("transactionType").cloned().unwrap_or(Value::Null);
    Ok(QuoteRequest {
        quote_id: text(body, "quoteId"),
        transaction_id: text(body, "transactionId"),
        payee: party_in(body.get("payee"))?,
        payer: party_in(body.get("payer"))?,
        amount_type: enum_in(
            &text(body, "amountType"),
            "AMOUNT_TYPE_",
            AmountType::from_str_name,
            AmountType::Unspecified,
        ) as i32,
        amount: money_in(body.get("amount")),
        fees: money_in(body.get("fees")),
        transaction_type: Some(TransactionType {
            scenario: enum_in(
                &text(&tt, "scenario"),
                "TRANSACTION_SCENARIO_",
                TransactionScenario::from_str_name,
                TransactionScenario::Unspecified,
            ) as i32,
            sub_scenario: text(&tt, "subScenario"),
            initiator: enum_in(
                &text(&tt, "initiator"),
                "TRANSACTION_INITIATOR_",
                TransactionInitiator::from_str_name,
                TransactionInitiator::Unspecified,
            ) as i32,
            initiator_type: enum_in(
                &text(&tt, "initiatorType"),
                "TRANSACTION_INITIATOR_TYPE_",
                TransactionInitiatorType::from_str_name,
                TransactionInitiatorType::Unspecified,
            ) as i32,
        }),
        note: text(body, "note"),
        expiration: timestamp_in(body.get("expiration"), "expiration")?,
        extensions: extensions_in(body.get("extensionList")),
    })
}

/// The canonical request as `POST /quotes`'s body.
pub fn quote_request_out(r: &QuoteRequest) -> Value {
    let mut body = Map::new();
    body.insert("quoteId".into(), Value::String(r.quote_id.clone()));
    body.insert(
        "transactionId".into(),
        Value::String(r.transaction_id.clone()),
    );
    if let Some(p) = &r.payee {
        body.insert("payee".into(), party_out(p));
    }
    if let Some(p) = &r.payer {
        body.insert("payer".into(), party_out(p));
    }
    let amount_type = AmountType::try_from(r.amount_type).unwrap_or(AmountType::Unspecified);
    body.insert(
        "amountType".into(),
        Value::String(enum_out(amount_type.as_str_name(), "AMOUNT_TYPE_")),
    );
    if let Some(m) = &r.amount {
        body.insert("amount".into(), money_out(m));
    }
    if let Some(m) = &r.fees {
        body.insert("fees".into(), money_out(m));
    }
    let tt = r.transaction_type.clone().unwrap_or_default();
    let mut t = Map::new();
    let scenario =
        TransactionScenario::try_from(tt.scenario).unwrap_or(TransactionScenario::Unspecified);
    t.insert(
        "scenario".into(),
        Value::String(enum_out(scenario.as_str_name(), "TRANSACTION_SCENARIO_")),
    );
    if !tt.sub_scenario.is_empty() {
        t.insert("subScenario".into(), Value::String(tt.sub_scenario));
    }
    let initiator =
        TransactionInitiator::try_from(tt.initiator).unwrap_or(TransactionInitiator::Unspecified);
    t.insert(
        "initiator".into(),
        Value::String(enum_out(initiator.as_str_name(), "TRANSACTION_INITIATOR_")),
    );
    let initiator_type = TransactionInitiatorType::try_from(tt.initiator_type)
        .unwrap_or(TransactionInitiatorType::Unspecified);
    t.insert(
        "initiatorType".into(),
        Value::String(enum_out(
            initiator_type.as_str_name(),
            "TRANSACTION_INITIATOR_TYPE_",
        )),
    );
    body.insert("transactionType".into(), Value::Object(t));
    if !r.note.is_empty() {
        body.insert("note".into(), Value::String(r.note.clone()));
    }
    if let Some(t) = &r.expiration {
        body.insert("expiration".into(), Value::String(timestamp_out(t)));
    }
    extensions_out(&r.extensions, &mut body);
    Value::Object(body)
}

/// The payee's `PUT /quotes/{ID}` body as terms.
pub fn quote_terms_in(body: &Value) -> Result<QuoteTerms, SwitchError> {
    Ok(QuoteTerms {
        transfer_amount: money_in(body.get("transferAmount")),
        payee_receive_amount: money_in(body.get("payeeReceiveAmount")),
        payee_fsp_fee: money_in(body.get("payeeFspFee")),
        payee_fsp_commission: money_in(body.get("payeeFspCommission")),
        expiration: timestamp_in(body.get("expiration"), "expiration")?,
        ilp_packet: text(body, "ilpPacket"),
        condition: text(body, "condition"),
        extensions: extensions_in(body.get("extensionList")),
    })
}

/// A recorded quote as the `PUT /quotes/{ID}` body.
pub fn quote_response_out(q: &QuoteResponse) -> Value {
    let mut body = Map::new();
    let mut money = |k: &str, m: &Option<Money>| {
        if let Some(m) = m {
            body.insert(k.into(), money_out(m));
        }
    };
    money("transferAmount", &q.transfer_amount);
    money("payeeReceiveAmount", &q.payee_receive_amount);
    money("payeeFspFee", &q.payee_fsp_fee);
    money("payeeFspCommission", &q.payee_fsp_commission);
    if let Some(t) = &q.expiration {
        body.insert("expiration".into(), Value::String(timestamp_out(t)));
    }
    body.insert("ilpPacket".into(), Value::String(q.ilp_packet.clone()));
    body.insert("condition".into(), Value::String(q.condition.clone()));
    extensions_out(&q.extensions, &mut body);
    Value::Object(body)
}

/// The FSPIOP name of a party id type (`MSISDN`, ...).
pub fn party_type_name(kind: i32) -> &'static str {
    PartyIdType::try_from(kind)
        .unwrap_or(PartyIdType::Unspecified)
        .as_str_name()
        .trim_start_matches("PARTY_ID_TYPE_")
}

/// A party from FSPIOP's `PUT /parties` body.
pub fn party_from_body(body: &Value) -> Result<Party, SwitchError> {
    let party = body
        .get("party")
        .ok_or_else(|| SwitchError::new(ErrorCode::MissingElement, "party is required"))?;
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let id_info = party.get("partyIdInfo").ok_or_else(|| {
        SwitchError::new(ErrorCode::MissingElement, "party.partyIdInfo is required")
    })?;
    let kind =
        PartyIdType::from_str_name(&format!("PARTY_ID_TYPE_{}", text(id_info, "partyIdType")))
            .unwrap_or(PartyIdType::Unspecified);
    let personal = party.get("personalInfo").cloned().unwrap_or(Value::Null);
    let complex = personal.get("complexName").cloned().unwrap_or(Value::Null);
    let name = PartyName {
        first_name: text(&complex, "firstName"),
        middle_name: text(&complex, "middleName"),
        last_name: text(&complex, "lastName"),
    };
    let has_name =
        !(name.first_name.is_empty() && name.middle_name.is_empty() && name.last_name.is_empty());
    Ok(Party {
        identifier: Some(PartyIdentifier {
            r#type: kind as i32,
            id: text(id_info, "partyIdentifier"),
            sub_id: text(id_info, "partySubIdOrType"),
        }),
        fsp_id: text(id_info, "fspId"),
        display_name: text(party, "name"),
        name: has_name.then_some(name),
        date_of_birth: text(&personal, "dateOfBirth"),
        merchant_classification_code: text(party, "merchantClassificationCode"),
        supported_currencies: party
            .get("supportedCurrencies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_and_offsets_are_read() {
        let ms = parse_datetime_ms("2026-12-01T19:00:00.123Z").expect("a DateTime");
        assert_eq!(ms, 1_796_151_600_123);
        assert_eq!(format_datetime_ms(ms), "2026-12-01T19:00:00.123Z");
        assert_eq!(
            parse_datetime_ms("2026-12-01T22:00:00+03:00"),
            Some(1_796_151_600_000)
        );
        assert_eq!(
            parse_datetime_ms("2026-12-01T19:00:00.1Z"),
            Some(1_796_151_600_100)
        );
        for bad in [
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-12-01T19:00:00",
            "yesterday",
        ] {
            assert_eq!(parse_datetime_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_quote_request_survives_the_round_trip() {
        let body = json!({
            "quoteId": "7c23e80c-d078-4077-8263-2c047876fcf6",
            "transactionId": "85feac2f-39b2-491b-817e-4a03203d4f14",
            "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254711000001", "fspId": "fsp-b"}},
            "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "254722000002", "fspId": "fsp-a"},
                      "name": "Amani Otieno"},
            "amountType": "SEND",
            "amount": {"amount": "100", "currency": "KES"},
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
            "note": "rent",
            "expiration": "2026-12-01T19:00:00.000Z",
            "extensionList": {"extension": [{"key": "channel", "value": "USSD"}]},
        });
        let request = quote_request_in(&body).expect("a request");
        assert_eq!(request.amount_type, AmountType::Send as i32);
        assert_eq!(quote_request_out(&request), body);
    }
}
