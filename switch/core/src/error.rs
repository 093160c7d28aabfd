//! FSPIOP error codes by name, and the error the core answers with.
//!
//! Every refusal of the switch carries one of the published FSPIOP codes
//! (the API definition's error table). Code names them: `ErrorCode::
//! PartyNotFound`, never `3204`. The number and the standard message come
//! from one table, [`ErrorCode::ALL`], which a test checks against the
//! published list (`shared/reference/fspiop/error-codes.json`).
//!
//! [`SwitchError`] is what the core and the layers above it return; each
//! adapter maps it once, at its edge, to what its protocol sends (a gRPC
//! status, an FSPIOP `errorInformation`).

use std::fmt;

/// Longest error description, in bytes.
pub const DESCRIPTION_LENGTH_MAX: usize = 1024;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $number:literal, $message:literal;)*) => {
        /// A published FSPIOP error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $number,)*
        }

        impl ErrorCode {
            /// Every published code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The standard message of the code (the API definition's).
            pub fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $message,)*
                }
            }

            /// The code with this number, if it is a published one.
            pub fn from_number(number: u16) -> Option<ErrorCode> {
                match number {
                    $($number => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    CommunicationError = 1000, "Communication error";
    DestinationCommunicationError = 1001, "Destination communication error";
    GenericServerError = 2000, "Generic server error";
    InternalServerError = 2001, "Internal server error";
    NotImplemented = 2002, "Not implemented";
    ServiceUnavailable = 2003, "Service currently unavailable";
    ServerTimedOut = 2004, "Server timed out";
    ServerBusy = 2005, "Server busy";
    PartyResolutionFailed = 2006, "Temporary party resolution failed, try again";
    GenericClientError = 3000, "Generic client error";
    UnacceptableVersion = 3001, "Unacceptable version requested";
    UnknownUri = 3002, "Unknown URI";
    AddPartyInformationError = 3003, "Add Party information error";
    DeletePartyInformationError = 3040, "Delete Party information error";
    ValidationError = 3100, "Generic validation error";
    MalformedSyntax = 3101, "Malformed syntax";
    MissingElement = 3102, "Missing mandatory element";
    TooManyElements = 3103, "Too many elements";
    PayloadTooLarge = 3104, "Too large payload";
    InvalidSignature = 3105, "Invalid signature";
    ModifiedRequest = 3106, "Modified request";
    MissingExtension = 3107, "Missing mandatory extension parameter";
    IdNotFound = 3200, "Generic ID not found";
    DestinationFspError = 3201, "Destination FSP Error";
    PayerFspNotFound = 3202, "Payer FSP ID not found";
    PayeeFspNotFound = 3203, "Payee FSP ID not found";
    PartyNotFound = 3204, "Party not found";
    QuoteNotFound = 3205, "Quote ID not found";
    TransactionRequestNotFound = 3206, "Transaction request ID not found";
    TransactionNotFound = 3207, "Transaction ID not found";
    TransferNotFound = 3208, "Transfer ID not found";
    BulkQuoteNotFound = 3209, "Bulk quote ID not found";
    BulkTransferNotFound = 3210, "Bulk transfer ID not found";
    GenericExpired = 3300, "Generic expired error";
    TransactionRequestExpired = 3301, "Transaction request expired";
    QuoteExpired = 3302, "Quote expired";
    TransferExpired = 3303, "Transfer expired";
    GenericPayerError = 4000, "Generic Payer error";
    PayerInsufficientLiquidity = 4001, "Payer FSP insufficient liquidity";
    PayerRejection = 4100, "Generic Payer rejection";
    PayerRejectedTransactionRequest = 4101, "Payer rejected transaction request";
    PayerUnsupportedTransactionType = 4102, "Payer FSP unsupported transaction type";
    PayerUnsupportedCurrency = 4103, "Payer unsupported currency";
    PayerLimitError = 4200, "Payer limit error";
    PayerPermissionError = 4300, "Payer permission error";
    PayerBlocked = 4400, "Generic Payer blocked error";
    GenericPayeeError = 5000, "Generic Payee error";
    PayeeInsufficientLiquidity = 5001, "Payee FSP insufficient liquidity";
    PayeeRejection = 5100, "Generic Payee rejection";
    PayeeRejectedQuote = 5101, "Payee rejected quote";
    PayeeUnsupportedTransactionType = 5102, "Payee FSP unsupported transaction type";
    PayeeFspRejectedQuote = 5103, "Payee FSP rejected quote";
    PayeeRejectedTransaction = 5104, "Payee rejected transaction";
    PayeeFspRejectedTransaction = 5105, "Payee FSP rejected transaction";
    PayeeUnsupportedCurrency = 5106, "Payee unsupported currency";
    PayeeIdentifierInvalid = 5107, "Payee identifier no-longer valid";
    PayeeLimitError = 5200, "Payee limit error";
    PayeePermissionError = 5300, "Payee permission error";
    PayeeBlocked = 5400, "Generic Payee blocked error";
}

impl ErrorCode {
    /// The four-digit number.
    pub fn number(self) -> u16 {
        self as u16
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        code.number()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.number())
    }
}

/// The description of an error: the code's standard message, then
/// `detail` when there is one, cut to [`DESCRIPTION_LENGTH_MAX`] bytes.
pub fn describe(standard: &str, detail: &str) -> String {
    let mut description = if detail.is_empty() {
        standard.to_string()
    } else {
        format!("{standard} - {detail}")
    };
    truncate_utf8(&mut description, DESCRIPTION_LENGTH_MAX);
    description
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
pub fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// A refusal or failure of the switch: a named code and a description for
/// people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub struct SwitchError {
    pub code: ErrorCode,
    pub description: String,
    /// A participant's own code outside the published table (a scheme's
    /// sub-code, say), passed on as it came; `code` is then the internal
    /// error. `None` for every error the switch makes itself.
    pub passed_on: Option<u16>,
}

impl SwitchError {
    /// An error with `code`; the description starts with the code's
    /// standard message and adds `detail` when there is one.
    pub fn new(code: ErrorCode, detail: impl AsRef<str>) -> SwitchError {
        SwitchError {
            code,
            description: describe(code.message(), detail.as_ref()),
            passed_on: None,
        }
    }

    /// An error from a code number of a lower crate (the ledger's and the
    /// settlement's refusals carry their FSPIOP number); a number outside
    /// the published table is an internal error.
    pub fn from_number(number: u16, detail: impl AsRef<str>) -> SwitchError {
        let code = ErrorCode::from_number(number).unwrap_or(ErrorCode::InternalServerError);
        SwitchError::new(code, detail)
    }

    /// The code number on the wire: the participant's own, when it was
    /// passed on, else the named code's.
    pub fn number(&self) -> u16 {
        self.passed_on.unwrap_or(self.code.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_number() {
        let mut last = 0;
        for &code in ErrorCode::ALL {
            assert!(code.number() > last, "the table is in numeric order");
            last = code.number();
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert!(!code.message().is_empty());
        }
        assert_eq!(ErrorCode::from_number(3999), None);
        assert_eq!(ErrorCode::PartyNotFound.to_string(), "3204");
    }

    #[test]
    fn descriptions_start_with_the_standard_message_and_are_bounded() {
        let e = SwitchError::new(ErrorCode::ModifiedRequest, "x");
        assert_eq!(e.description, "Modified request - x");
        let e = SwitchError::new(ErrorCode::ValidationError, "é".repeat(2000));
        assert!(e.description.len() <= DESCRIPTION_LENGTH_MAX);
        assert_eq!(
            SwitchError::from_number(4001, "").code,
            ErrorCode::PayerInsufficientLiquidity
        );
        assert_eq!(
            SwitchError::from_number(1, "").code,
            ErrorCode::InternalServerError
        );
    }
}
