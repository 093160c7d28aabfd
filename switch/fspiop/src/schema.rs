//! Checks of FSPIOP bodies that the API definition's schema makes and the
//! service layer has no word for: the patterns of a party's names and date
//! of birth. They run before the request is accepted, so a bad body gets
//! 400 with 3100 naming the property, as Mojaloop's hub answers, and
//! changes nothing.

use std::sync::LazyLock;

use harambee_core::error::ErrorCode;
use regex::Regex;
use serde_json::Value;

use crate::error::HttpError;

/// The longest name (`FirstName`, `MiddleName`, `LastName`), in characters.
pub const NAME_LENGTH_MAX: usize = 128;

/// FSPIOP v1.1's name pattern: letters, marks, digits, connector
/// punctuation, join controls, space and `.,'-`; 1 to 128 of them, not
/// all blank (the schema's `(?!\s*$)`, checked apart: the regex crate has
/// no look-ahead).
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\p{L}\p{M}\p{Nd}\p{Pc}\p{Join_Control} .,'-]{1,128}$")
        .expect("the name pattern compiles")
});

/// The parts of a `complexName`.
const NAME_PARTS: [&str; 3] = ["firstName", "middleName", "lastName"];

/// Checks the `personalInfo` of the party `party` (at `at` in the body,
/// such as `payer`): each name part present must match the name pattern
/// and a `dateOfBirth` present must be a calendar date `YYYY-MM-DD`.
/// Absent parts are fine, and so are keys the schema does not know.
pub fn personal_info(at: &str, party: &Value) -> Result<(), HttpError> {
    let Some(info) = party.get("personalInfo") else {
        return Ok(());
    };
    if let Some(name) = info.get("complexName") {
        for part in NAME_PARTS {
            let Some(value) = name.get(part) else {
                continue;
            };
            if !value.as_str().is_some_and(is_name) {
                return Err(invalid(
                    &format!("{at}.personalInfo.complexName.{part}"),
                    "must be 1 to 128 letters, marks, digits, spaces or .,'-",
                ));
            }
        }
    }
    if let Some(date) = info.get("dateOfBirth")
        && !date.as_str().is_some_and(is_date_of_birth)
    {
        return Err(invalid(
            &format!("{at}.personalInfo.dateOfBirth"),
            "must be a date YYYY-MM-DD",
        ));
    }
    Ok(())
}

/// 3100 naming the property at `path` (JSON pointer-like, as Mojaloop's
/// descriptions name it).
fn invalid(path: &str, why: &str) -> HttpError {
    HttpError::new(ErrorCode::ValidationError, format!("{path} {why}"))
}

/// Whether `text` matches FSPIOP's name pattern.
pub fn is_name(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= NAME_LENGTH_MAX && NAME.is_match(text)
}

/// Whether `text` is FSPIOP's `DateOfBirth`: `YYYY-MM-DD`, a day that
/// exists (29 February only in leap years), the year from 1000 to 9999.
pub fn is_date_of_birth(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &text[range];
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1000..=9999).contains(&year) && (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_of_any_script_pass_and_symbols_do_not() {
        for good in [
            "Firstname-Test",
            "O'Brien",
            "Jean-Luc Picard Jr.",
            "Zoë Ångström",
            "မောင်မောင်",
            "Mats123",
            "a",
        ] {
            assert!(is_name(good), "{good:?}");
        }
        for bad in [
            "",
            "   ",
            "Mats12@#$3",
            "@#4768",
            "a/b",
            "<script>",
            &"x".repeat(129),
        ] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn dates_of_birth_are_calendar_days() {
        for good in ["1984-01-01", "2000-02-29", "1999-12-31", "1000-01-01"] {
            assert!(is_date_of_birth(good), "{good:?}");
        }
        for bad in [
            "1983-25-25",
            "",
            "null",
            "1980/05/05",
            "abc@3#",
            "83-10-25",
            "1900-02-29",
            "1999-04-31",
            "0999-01-01",
            "1999-00-10",
            "1999-01-00",
            "+999-01-01",
        ] {
            assert!(!is_date_of_birth(bad), "{bad:?}");
        }
    }

    #[test]
    fn personal_info_names_the_property_it_refuses() {
        let party =
            json!({"personalInfo": {"complexName": {"firstName": "Ann", "lastName": "@#4768"}}});
        let e = personal_info("payer", &party).unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError.number());
        assert!(e.description.contains("lastName"), "{}", e.description);
        let party = json!({"personalInfo": {"dateOfBirth": null}});
        let e = personal_info("payee", &party).unwrap_err();
        assert!(e.description.contains("dateOfBirth"), "{}", e.description);
    }

    #[test]
    fn absent_parts_and_unknown_keys_pass() {
        for party in [
            json!({}),
            json!({"personalInfo": {}}),
            json!({"personalInfo": {"complexName": {"FirstName": "M@ts"}}}),
            json!({"personalInfo": {"complexName": {"lastName": "Doe"}, "dateOfBirth": "1984-01-01"}}),
        ] {
            assert!(personal_info("payer", &party).is_ok(), "{party}");
        }
    }
}
