//! Amounts as people read them: the currency's decimals, grouped
//! thousands, the language's separators (`USD 1,234.50`, `USD 1 234,50`).

use rust_decimal::Decimal;

use crate::catalog::Lang;

/// `amount` (a decimal string from the Operator API) in `currency`, kept
/// at `scale` decimals; the text as given if it is not a decimal.
pub fn format(amount: &str, currency: &str, scale: u32, lang: Lang) -> String {
    let Ok(value) = amount.parse::<Decimal>() else {
        return format!("{currency} {amount}");
    };
    let value = value.round_dp(scale);
    let text = format!("{:.*}", scale as usize, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let (group, point) = match lang {
        Lang::En => (",", "."),
        // A narrow no-break space, as French typography groups digits.
        Lang::Fr => ("\u{202f}", ","),
    };
    let digits: Vec<char> = whole.chars().collect();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 * 3);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push_str(group);
        }
        grouped.push(*d);
    }
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{currency} {sign}{grouped}")
    } else {
        format!("{currency} {sign}{grouped}{point}{fraction}")
    }
}

/// How much of a limit is used, 0 to 100: `used` of `limit` (both decimal
/// strings); 100 when the limit is zero or less and something is used.
pub fn percent_used(used: &str, limit: &str) -> u32 {
    let (Ok(used), Ok(limit)) = (used.parse::<Decimal>(), limit.parse::<Decimal>()) else {
        return 0;
    };
    if used <= Decimal::ZERO {
        return 0;
    }
    if limit <= Decimal::ZERO {
        return 100;
    }
    let share = (used * Decimal::ONE_HUNDRED / limit).round();
    u32::try_from(share.mantissa().clamp(0, 100)).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(format("1234.5", "USD", 2, Lang::En), "USD 1,234.50");
        assert_eq!(
            format("1234567.891", "USD", 2, Lang::En),
            "USD 1,234,567.89"
        );
        assert_eq!(format("-50", "USD", 2, Lang::En), "USD -50.00");
        assert_eq!(format("1500", "UGX", 0, Lang::En), "UGX 1,500");
        assert_eq!(format("999", "KES", 2, Lang::En), "KES 999.00");
        assert_eq!(format("1234.5", "EUR", 2, Lang::Fr), "EUR 1\u{202f}234,50");
        assert_eq!(format("0", "USD", 2, Lang::En), "USD 0.00");
        assert_eq!(format("x", "USD", 2, Lang::En), "USD x");
    }

    #[test]
    fn limits_used() {
        assert_eq!(percent_used("50", "200"), 25);
        assert_eq!(percent_used("0", "200"), 0);
        assert_eq!(percent_used("-10", "200"), 0);
        assert_eq!(percent_used("300", "200"), 100);
        assert_eq!(percent_used("1", "0"), 100);
    }
}
