//! FSPIOP errors on the wire: the one place where an error becomes an
//! FSPIOP `ErrorInformation` and a gRPC status, and back. Servers (the
//! switch) and clients (participants, the simulator, tests) share it.
//!
//! Every error status a Harambee service returns carries, in the standard
//! `grpc-status-details-bin` trailer, a `google.rpc.Status` whose details
//! hold exactly one `harambee.v1.ErrorInformation` packed as
//! `google.protobuf.Any`. Clients that know FSPIOP read the code from there;
//! plain gRPC clients still get a meaningful status code and message.

use prost::Message;

use crate::v1::ErrorInformation;
use tonic::{Code, Status};

/// Type URL of `ErrorInformation` inside `google.protobuf.Any`.
pub const ERROR_INFORMATION_TYPE_URL: &str = "type.googleapis.com/harambee.v1.ErrorInformation";

/// Longest error description sent on the wire, in bytes.
pub const DESCRIPTION_LENGTH_MAX: usize = 1024;

/// An FSPIOP error: a four-digit code and a description for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub struct FspiopError {
    pub code: u16,
    pub description: String,
}

impl FspiopError {
    /// An error with `code`; the description starts with the code's standard
    /// message and adds `detail` when there is one.
    pub fn new(code: u16, detail: impl AsRef<str>) -> FspiopError {
        let standard = standard_message(code).unwrap_or("Error");
        let detail = detail.as_ref();
        let mut description = if detail.is_empty() {
            standard.to_string()
        } else {
            format!("{standard} - {detail}")
        };
        truncate_utf8(&mut description, DESCRIPTION_LENGTH_MAX);
        FspiopError { code, description }
    }

    /// The gRPC status code for this FSPIOP code.
    pub fn grpc_code(&self) -> Code {
        grpc_code(self.code)
    }

    /// The wire form of the error.
    pub fn to_error_information(&self) -> ErrorInformation {
        ErrorInformation {
            error_code: format!("{:04}", self.code),
            error_description: self.description.clone(),
            ..Default::default()
        }
    }

    /// The gRPC status carrying this error.
    pub fn to_status(&self) -> Status {
        let info = self.to_error_information();
        let details = RpcStatus {
            code: self.grpc_code() as i32,
            message: self.description.clone(),
            details: vec![prost_types::Any {
                type_url: ERROR_INFORMATION_TYPE_URL.to_string(),
                value: info.encode_to_vec(),
            }],
        };
        Status::with_details(
            self.grpc_code(),
            self.description.clone(),
            details.encode_to_vec().into(),
        )
    }

    /// Reads the FSPIOP error out of a status. A status without one (from a
    /// proxy, a transport failure, a non-Harambee server) is mapped from its
    /// gRPC code: unavailable and deadline errors become 1001 (destination
    /// communication error), out-of-range (what gRPC answers to a message
    /// above the size limit) becomes 3104, anything else 2001.
    pub fn from_status(status: &Status) -> FspiopError {
        if let Some(e) = Self::from_details(status.details()) {
            return e;
        }
        let code = match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => 1001,
            Code::OutOfRange => 3104,
            _ => 2001,
        };
        FspiopError::new(code, format!("{:?}: {}", status.code(), status.message()))
    }

    fn from_details(details: &[u8]) -> Option<FspiopError> {
        let rpc = RpcStatus::decode(details).ok()?;
        let any = rpc
            .details
            .iter()
            .find(|a| a.type_url == ERROR_INFORMATION_TYPE_URL)?;
        let info = ErrorInformation::decode(any.value.as_slice()).ok()?;
        let code = parse_code(&info.error_code)?;
        Some(FspiopError {
            code,
            description: info.error_description,
        })
    }
}

impl From<FspiopError> for Status {
    fn from(e: FspiopError) -> Status {
        e.to_status()
    }
}

/// Parses a four-digit FSPIOP code ("3100"); anything else is `None`.
pub fn parse_code(text: &str) -> Option<u16> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = text.parse().ok()?;
    (1000..=5999).contains(&code).then_some(code)
}

/// The gRPC status code for an FSPIOP code (see `common.proto`).
pub fn grpc_code(code: u16) -> Code {
    match code {
        1000..=1999 => Code::Unavailable,
        2002 => Code::Unimplemented,
        2003 => Code::Unavailable,
        2004 => Code::DeadlineExceeded,
        2005 => Code::ResourceExhausted,
        2000..=2999 => Code::Internal,
        3000 => Code::PermissionDenied,
        3105 => Code::Unauthenticated,
        3106 => Code::AlreadyExists,
        3100..=3199 => Code::InvalidArgument,
        3200..=3299 => Code::NotFound,
        3001..=3099 | 3300..=3999 => Code::FailedPrecondition,
        _ => Code::FailedPrecondition,
    }
}

/// The standard message of a published FSPIOP code.
pub fn standard_message(code: u16) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}

/// Published FSPIOP error codes and their standard messages (the API
/// definition's error table). A test checks it against
/// `shared/reference/fspiop/error-codes.json`.
pub const CODES: &[(u16, &str)] = &[
    (1000, "Communication error"),
    (1001, "Destination communication error"),
    (2000, "Generic server error"),
    (2001, "Internal server error"),
    (2002, "Not implemented"),
    (2003, "Service currently unavailable"),
    (2004, "Server timed out"),
    (2005, "Server busy"),
    (2006, "Temporary party resolution failed, try again"),
    (3000, "Generic client error"),
    (3001, "Unacceptable version requested"),
    (3002, "Unknown URI"),
    (3003, "Add Party information error"),
    (3040, "Delete Party information error"),
    (3100, "Generic validation error"),
    (3101, "Malformed syntax"),
    (3102, "Missing mandatory element"),
    (3103, "Too many elements"),
    (3104, "Too large payload"),
    (3105, "Invalid signature"),
    (3106, "Modified request"),
    (3107, "Missing mandatory extension parameter"),
    (3200, "Generic ID not found"),
    (3201, "Destination FSP Error"),
    (3202, "Payer FSP ID not found"),
    (3203, "Payee FSP ID not found"),
    (3204, "Party not found"),
    (3205, "Quote ID not found"),
    (3206, "Transaction request ID not found"),
    (3207, "Transaction ID not found"),
    (3208, "Transfer ID not found"),
    (3209, "Bulk quote ID not found"),
    (3210, "Bulk transfer ID not found"),
    (3300, "Generic expired error"),
    (3301, "Transaction request expired"),
    (3302, "Quote expired"),
    (3303, "Transfer expired"),
    (4000, "Generic Payer error"),
    (4001, "Payer FSP insufficient liquidity"),
    (4100, "Generic Payer rejection"),
    (4101, "Payer rejected transaction request"),
    (4102, "Payer FSP unsupported transaction type"),
    (4103, "Payer unsupported currency"),
    (4200, "Payer limit error"),
    (4300, "Payer permission error"),
    (4400, "Generic Payer blocked error"),
    (5000, "Generic Payee error"),
    (5001, "Payee FSP insufficient liquidity"),
    (5100, "Generic Payee rejection"),
    (5101, "Payee rejected quote"),
    (5102, "Payee FSP unsupported transaction type"),
    (5103, "Payee FSP rejected quote"),
    (5104, "Payee rejected transaction"),
    (5105, "Payee FSP rejected transaction"),
    (5106, "Payee unsupported currency"),
    (5107, "Payee identifier no-longer valid"),
    (5200, "Payee limit error"),
    (5300, "Payee permission error"),
    (5400, "Generic Payee blocked error"),
];

/// `google.rpc.Status`, the payload of the `grpc-status-details-bin` trailer.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_status() {
        let e = FspiopError::new(4001, "needs 10.00 USD");
        let status = e.to_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(FspiopError::from_status(&status), e);
        assert_eq!(
            e.description,
            "Payer FSP insufficient liquidity - needs 10.00 USD"
        );
    }

    #[test]
    fn descriptions_start_with_the_standard_message() {
        let e = FspiopError::new(3106, "x");
        assert_eq!(e.grpc_code(), Code::AlreadyExists);
        assert_eq!(e.description, "Modified request - x");
        assert_eq!(FspiopError::new(3106, "").description, "Modified request");
    }

    #[test]
    fn statuses_without_details_map_by_grpc_code() {
        assert_eq!(
            FspiopError::from_status(&Status::unavailable("down")).code,
            1001
        );
        assert_eq!(
            FspiopError::from_status(&Status::deadline_exceeded("slow")).code,
            1001
        );
        assert_eq!(
            FspiopError::from_status(&Status::internal("boom")).code,
            2001
        );
        let garbage = Status::with_details(Code::Internal, "x", vec![1, 2, 3].into());
        assert_eq!(FspiopError::from_status(&garbage).code, 2001);
    }

    #[test]
    fn grpc_codes_by_class() {
        for (code, grpc) in [
            (1001, Code::Unavailable),
            (2001, Code::Internal),
            (2003, Code::Unavailable),
            (3000, Code::PermissionDenied),
            (3100, Code::InvalidArgument),
            (3106, Code::AlreadyExists),
            (3204, Code::NotFound),
            (3208, Code::NotFound),
            (3303, Code::FailedPrecondition),
            (4200, Code::FailedPrecondition),
            (5104, Code::FailedPrecondition),
        ] {
            assert_eq!(grpc_code(code), grpc, "{code}");
        }
    }

    #[test]
    fn parse_code_accepts_only_four_digit_codes() {
        assert_eq!(parse_code("3100"), Some(3100));
        for bad in ["", "310", "31000", "abcd", "0999", "6000", "+100", "3 00"] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn long_descriptions_are_cut_at_a_char_boundary() {
        let e = FspiopError::new(3100, "é".repeat(2000));
        assert!(e.description.len() <= DESCRIPTION_LENGTH_MAX);
        assert!(e.description.is_char_boundary(e.description.len()));
    }
}
