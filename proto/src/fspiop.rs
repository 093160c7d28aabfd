//! FSPIOP errors on the wire: the one place where an error becomes an
//! FSPIOP `ErrorInformation` and a gRPC status, and back. Servers (the
//! switch) and clients (participants, the simulator, tests) share it.
//!
//! Every error status a Harambee service returns carries, in the standard
//! `grpc-status-details-bin` trailer, a `google.rpc.Status` whose details
//! hold exactly one `harambee.v1.ErrorInformation` packed as
//! `google.protobuf.Any`. Clients that know FSPIOP read the code from there;
//! plain gRPC clients still get a meaningful status code and message.

use harambee_core::error::describe;
pub use harambee_core::error::{DESCRIPTION_LENGTH_MAX, ErrorCode, SwitchError};
use prost::Message;

use crate::v1::ErrorInformation;
use tonic::{Code, Status};

/// Type URL of `ErrorInformation` inside `google.protobuf.Any`.
pub const ERROR_INFORMATION_TYPE_URL: &str = "type.googleapis.com/harambee.v1.ErrorInformation";

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
    pub fn new(code: ErrorCode, detail: impl AsRef<str>) -> FspiopError {
        FspiopError {
            code: code.number(),
            description: describe(code.message(), detail.as_ref()),
        }
    }

    /// An error with a code number from elsewhere (a lower crate's refusal,
    /// a stored reason); the standard message of an unpublished number is
    /// "Error".
    pub fn from_number(code: u16, detail: impl AsRef<str>) -> FspiopError {
        let standard = standard_message(code).unwrap_or("Error");
        FspiopError {
            code,
            description: describe(standard, detail.as_ref()),
        }
    }

    /// The named code, if the number is a published one.
    pub fn named(&self) -> Option<ErrorCode> {
        ErrorCode::from_number(self.code)
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
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                ErrorCode::DestinationCommunicationError
            }
            Code::OutOfRange => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::InternalServerError,
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

impl From<SwitchError> for FspiopError {
    fn from(e: SwitchError) -> FspiopError {
        FspiopError {
            code: e.number(),
            description: e.description,
        }
    }
}

/// An error read off the wire, as the layers above take it: a published
/// code keeps its name; any other number is an internal error that passes
/// the number on; the description is kept as it came.
impl From<FspiopError> for SwitchError {
    fn from(e: FspiopError) -> SwitchError {
        let named = e.named();
        SwitchError {
            code: named.unwrap_or(ErrorCode::InternalServerError),
            description: e.description,
            passed_on: named.is_none().then_some(e.code),
        }
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
    ErrorCode::from_number(code).map(ErrorCode::message)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_status() {
        let e = FspiopError::new(ErrorCode::PayerInsufficientLiquidity, "needs 10.00 USD");
        let status = e.to_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(FspiopError::from_status(&status), e);
        assert_eq!(
            e.description,
            "Payer FSP insufficient liquidity - needs 10.00 USD"
        );
    }

    #[test]
    fn an_unpublished_code_crosses_the_layers_as_it_came() {
        let theirs = FspiopError::from_number(5181, "scheme rule 7");
        assert_eq!(theirs.named(), None);
        let inside = SwitchError::from(theirs.clone());
        assert_eq!(inside.code, ErrorCode::InternalServerError);
        assert_eq!(inside.number(), 5181);
        assert_eq!(FspiopError::from(inside), theirs);
        // A named code stays named, and nothing is passed on.
        let named = SwitchError::from(FspiopError::new(ErrorCode::PartyNotFound, "x"));
        assert_eq!(
            (named.code, named.passed_on),
            (ErrorCode::PartyNotFound, None)
        );
    }

    #[test]
    fn descriptions_start_with_the_standard_message() {
        let e = FspiopError::new(ErrorCode::ModifiedRequest, "x");
        assert_eq!(e.grpc_code(), Code::AlreadyExists);
        assert_eq!(e.description, "Modified request - x");
        assert_eq!(
            FspiopError::new(ErrorCode::ModifiedRequest, "").description,
            "Modified request"
        );
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
        let e = FspiopError::new(ErrorCode::ValidationError, "é".repeat(2000));
        assert!(e.description.len() <= DESCRIPTION_LENGTH_MAX);
        assert!(e.description.is_char_boundary(e.description.len()));
    }
}
