//! Errors on an FSPIOP HTTP API: `{"errorInformation": {"errorCode",
//! "errorDescription"}}` with the HTTP status the code's class gives, as
//! Mojaloop's hub answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use harambee_core::error::{ErrorCode, SwitchError};
use harambee_proto::fspiop::FspiopError;
use serde_json::json;

/// An error answered to an HTTP caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    pub code: u16,
    pub description: String,
}

impl HttpError {
    pub fn new(code: ErrorCode, detail: impl AsRef<str>) -> HttpError {
        SwitchError::new(code, detail).into()
    }

    /// The HTTP status for the error's code.
    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    /// The `errorInformation` body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "errorInformation": {
                "errorCode": format!("{:04}", self.code),
                "errorDescription": self.description,
            }
        })
    }
}

/// A reply of the service layer that does not fit the call (2001).
pub fn unexpected() -> HttpError {
    HttpError::new(ErrorCode::InternalServerError, "unexpected reply")
}

/// The HTTP status of an FSPIOP error code, by its class: communication
/// and server errors 5xx, client errors 4xx (an unknown URI 404, an
/// unacceptable version 406), business refusals (payer, payee) 400.
pub fn status_of(code: u16) -> StatusCode {
    match code {
        3001 => StatusCode::NOT_ACCEPTABLE,
        3002 => StatusCode::NOT_FOUND,
        1000..=1999 => StatusCode::SERVICE_UNAVAILABLE,
        2003 | 2005 => StatusCode::SERVICE_UNAVAILABLE,
        2004 => StatusCode::GATEWAY_TIMEOUT,
        2002 => StatusCode::NOT_IMPLEMENTED,
        2000..=2999 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<SwitchError> for HttpError {
    fn from(e: SwitchError) -> HttpError {
        HttpError {
            code: e.number(),
            description: e.description,
        }
    }
}

impl From<FspiopError> for HttpError {
    fn from(e: FspiopError) -> HttpError {
        HttpError {
            code: e.code,
            description: e.description,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_class_status() {
        assert_eq!(status_of(3001), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(status_of(3101), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(2001), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(2003), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of(4001), StatusCode::BAD_REQUEST);
        let e = HttpError::new(ErrorCode::MalformedSyntax, "body: not JSON");
        assert_eq!(e.body()["errorInformation"]["errorCode"], "3101");
    }
}
