//! The FSPIOP headers of a request (API definition v1.1, section 3.2):
//! the versioned media types (`Accept`, `Content-Type`), `Date`,
//! `FSPIOP-Source` and `FSPIOP-Destination`, checked before anything
//! else, and the headers of the switch's own callbacks.

use axum::http::HeaderMap;
use harambee_core::error::ErrorCode;
use harambee_service::ports::{PeerCertificate, PeerIdentity};

use crate::error::HttpError;

/// The versions of the API served: major 1, minors 0 and 1.
pub const MAJOR_VERSION: u32 = 1;
pub const MINOR_VERSION_MAX: u32 = 1;

/// The version the switch writes in its own messages.
pub const VERSION: &str = "1.1";

/// What the switch names itself in the messages it originates, unless
/// configured otherwise (`fspiop.hub_name`): Mojaloop's default.
pub const HUB_SOURCE: &str = "Hub";

/// The FSPIOP headers of a checked request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fspiop {
    pub source: String,
    pub destination: Option<String>,
    /// The version of the request's body (or, for a GET, of `Accept`).
    pub version: (u32, u32),
    /// The headers to relay as they came: the media type (its version is
    /// the sender's), those a signature covers (`Date`,
    /// `FSPIOP-Signature`), encryption and trace context.
    pub relayed: Vec<(String, String)>,
}

/// The `version` of `application/vnd.interoperability.{resource}+json;
/// version=X[.Y]`; `None` if the media type is not the resource's.
fn media_version(value: &str, resource: &str) -> Option<Option<(u32, u32)>> {
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next()?;
    let expected = format!("application/vnd.interoperability.{resource}+json");
    if !media.eq_ignore_ascii_case(&expected) {
        return None;
    }
    let version = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string());
    Some(version.and_then(|v| parse_version(&v)))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = match text.split_once('.') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => (text.parse().ok()?, 0),
    };
    Some((major, minor))
}

fn supported((major, minor): (u32, u32)) -> bool {
    major == MAJOR_VERSION && minor <= MINOR_VERSION_MAX
}

/// 3001 for an `Accept` without a version the switch serves, in
/// Mojaloop's words (its tests compare them).
fn unacceptable_accept() -> HttpError {
    HttpError::new(
        ErrorCode::UnacceptableVersion,
        "The Client requested an unsupported version, see extension list for supported version(s). (served: 1, 1.0, 1.1)",
    )
}

/// 3001 for a `Content-Type` of a version the switch does not serve, in
/// Mojaloop's words.
fn unacceptable_content_type() -> HttpError {
    HttpError::new(
        ErrorCode::UnacceptableVersion,
        "Client supplied a protocol version which is not supported by the server (served: 1, 1.0, 1.1)",
    )
}

/// Whether a media type is JSON at all (`application/json`, `...+json`).
fn is_json(media: &str) -> bool {
    let media = media.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case("application/json") || media.to_ascii_lowercase().ends_with("+json")
}

/// Checks a `Content-Type` for `resource`: its version, or the error.
fn content_version(content_type: &str, resource: &str) -> Result<(u32, u32), HttpError> {
    match media_version(content_type, resource) {
        None if !is_json(content_type) => Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!("Invalid content-type header: Unsupported Media Type ({content_type})"),
        )),
        None => Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            format!(
                "Invalid content-type header: it must be application/vnd.interoperability.{resource}+json;version=1.1"
            ),
        )),
        // A media type without its version is malformed, as Mojaloop's
        // hub answers it.
        Some(None) => Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            "Invalid content-type header: it has no version",
        )),
        Some(Some(v)) if !supported(v) => Err(unacceptable_content_type()),
        Some(Some(v)) => Ok(v),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a request to `resource` (`parties`, `participants`, `quotes`,
/// `transfers`). `with_body`: it carries a body (POST, PUT).
pub fn check(headers: &HeaderMap, resource: &str, with_body: bool) -> Result<Fspiop, HttpError> {
    let mut version = None;
    match header(headers, "content-type") {
        Some(content_type) => {
            let v = content_version(content_type, resource);
            // A GET has no body: only a version it does not serve counts.
            if with_body
                || v.as_ref()
                    .is_err_and(|e| e.code == ErrorCode::UnacceptableVersion.number())
            {
                version = Some(v?);
            }
        }
        None if with_body => {
            return Err(HttpError::new(
                ErrorCode::MissingElement,
                "Content-type is required",
            ));
        }
        None => {}
    }
    // Accept is required on requests and absent on callbacks (PUT): when
    // present, one of its versions must be served.
    // A client's `*/*` on a message with a body (the SDK sends it on its
    // callbacks) states no preference: as if there were no Accept. On a
    // GET, which must name the version it wants, it is invalid.
    let anything = |a: &str| {
        a.split(',')
            .all(|m| m.split(';').next().unwrap_or_default().trim() == "*/*")
    };
    let accept = header(headers, "accept");
    if !with_body && accept.is_some_and(anything) {
        return Err(HttpError::new(
            ErrorCode::MalformedSyntax,
            "Invalid accept header: a GET must accept a version of the resource's media type",
        ));
    }
    let accept = accept.filter(|a| !anything(a));
    if let Some(accept) = accept {
        let offered: Vec<Option<(u32, u32)>> = accept
            .split(',')
            .filter_map(|a| media_version(a, resource))
            .collect();
        if offered.is_empty() {
            return Err(HttpError::new(
                ErrorCode::MalformedSyntax,
                format!(
                    "Invalid accept header: it must be application/vnd.interoperability.{resource}+json;version=1"
                ),
            ));
        }
        // `version=1` reads as 1.0: every version of the list that the
        // switch serves will do; the newest is answered.
        let best = offered
            .iter()
            .flatten()
            .copied()
            .filter(|v| supported(*v))
            .max();
        match best {
            Some(v) => {
                version.get_or_insert(v);
            }
            None => return Err(unacceptable_accept()),
        }
    } else if !with_body {
        return Err(HttpError::new(
            ErrorCode::MissingElement,
            "Accept is required",
        ));
    }
    if header(headers, "date").is_none_or(str::is_empty) {
        return Err(HttpError::new(
            ErrorCode::MissingElement,
            "\"date\" is required",
        ));
    }
    let source = header(headers, "fspiop-source")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| HttpError::new(ErrorCode::MissingElement, "\"fspiop-source\" is required"))?
        .to_string();
    let destination = header(headers, "fspiop-destination")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let relayed = [
        "content-type",
        "date",
        "fspiop-signature",
        "fspiop-encryption",
        "traceparent",
        "tracestate",
    ]
    .iter()
    .filter_map(|name| header(headers, name).map(|v| (name.to_string(), v.to_string())))
    .collect();
    Ok(Fspiop {
        source,
        destination,
        version: version.unwrap_or((MAJOR_VERSION, MINOR_VERSION_MAX)),
        relayed,
    })
}

/// The media type of the switch's messages about `resource`.
pub fn content_type(resource: &str) -> String {
    format!("application/vnd.interoperability.{resource}+json;version={VERSION}")
}

/// An HTTP date (RFC 7231, IMF-fixdate) for `ms` since the Unix epoch.
pub fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(crate) use harambee_core::text::civil_from_days;

/// A request's headers and the connection it came on: the extractor every
/// handler that must know its caller takes. The connection's
/// [`PeerIdentity`] (its verified client certificate, on TLS) is put in
/// the request's extensions by the server that accepted it; a request
/// without one came on a plain connection.
#[derive(Clone, Debug, Default)]
pub struct Headers {
    pub map: HeaderMap,
    pub peer: PeerIdentity,
}

impl Headers {
    /// The verified client certificate of the connection, if any.
    pub fn certificate(&self) -> Option<&PeerCertificate> {
        self.peer.certificate.as_ref()
    }

    /// The bearer credential of `Authorization: Bearer <credential>`.
    pub fn bearer(&self) -> Option<&str> {
        header(&self.map, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|v| !v.is_empty())
    }
}

impl std::ops::Deref for Headers {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        &self.map
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Headers {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Headers, Self::Rejection> {
        Ok(Headers {
            map: parts.headers.clone(),
            peer: parts
                .extensions
                .get::<PeerIdentity>()
                .copied()
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("a header value"));
        }
        h
    }

    const DATE: &str = "Tue, 01 Dec 2026 19:00:00 GMT";

    #[test]
    fn versions_1_1_0_and_1_1_are_accepted_and_others_refused_with_3001() {
        for v in ["1", "1.0", "1.1"] {
            let h = headers(&[
                (
                    "accept",
                    &format!("application/vnd.interoperability.parties+json;version={v}"),
                ),
                ("date", DATE),
                ("fspiop-source", "dfsp-a"),
            ]);
            assert!(check(&h, "parties", false).is_ok(), "version {v}");
        }
        for v in ["2", "2.0", "1.2", "x"] {
            let h = headers(&[
                (
                    "accept",
                    &format!("application/vnd.interoperability.parties+json;version={v}"),
                ),
                ("date", DATE),
                ("fspiop-source", "dfsp-a"),
            ]);
            let e = check(&h, "parties", false).expect_err("refused");
            assert_eq!(e.code, 3001, "version {v}");
            assert_eq!(e.status().as_u16(), 406);
        }
        let h = headers(&[
            (
                "content-type",
                "application/vnd.interoperability.quotes+json;version=2.0",
            ),
            (
                "accept",
                "application/vnd.interoperability.quotes+json;version=1",
            ),
            ("date", DATE),
            ("fspiop-source", "dfsp-a"),
        ]);
        assert_eq!(check(&h, "quotes", true).map_err(|e| e.code), Err(3001));
    }

    #[test]
    fn version_refusals_are_in_mojaloops_words() {
        let h = headers(&[
            (
                "accept",
                "application/vnd.interoperability.parties+json;version=3.2",
            ),
            ("date", DATE),
            ("fspiop-source", "dfsp-a"),
        ]);
        let e = check(&h, "parties", false).expect_err("refused");
        assert!(
            e.description.starts_with(
                "Unacceptable version requested - The Client requested an unsupported version"
            ),
            "{}",
            e.description
        );
        let h = headers(&[
            (
                "content-type",
                "application/vnd.interoperability.quotes+json;version=3.2",
            ),
            ("date", DATE),
            ("fspiop-source", "dfsp-a"),
        ]);
        let e = check(&h, "quotes", true).expect_err("refused");
        assert!(
            e.description.starts_with(
                "Unacceptable version requested - Client supplied a protocol version which is not supported by the server"
            ),
            "{}",
            e.description
        );
        // A GET's Content-Type of a version not served is refused too.
        let h = headers(&[
            (
                "content-type",
                "application/vnd.interoperability.parties+json;version=2.0",
            ),
            (
                "accept",
                "application/vnd.interoperability.parties+json;version=1",
            ),
            ("date", DATE),
            ("fspiop-source", "dfsp-a"),
        ]);
        assert_eq!(check(&h, "parties", false).map_err(|e| e.code), Err(3001));
    }

    #[test]
    fn a_media_type_that_is_not_json_is_unsupported() {
        let h = headers(&[
            ("content-type", "application/xml"),
            ("date", DATE),
            ("fspiop-source", "dfsp-a"),
        ]);
        let e = check(&h, "quotes", true).expect_err("refused");
        assert_eq!(e.code, 3101);
        assert!(
            e.description.contains("Invalid content-type"),
            "{}",
            e.description
        );
        assert!(
            e.description.contains("Unsupported Media Type"),
            "{}",
            e.description
        );
    }

    #[test]
    fn an_accept_of_anything_is_no_preference_on_a_message_and_invalid_on_a_get() {
        let h = headers(&[
            (
                "content-type",
                "application/vnd.interoperability.parties+json;version=1.1",
            ),
            ("accept", "*/*"),
            ("date", DATE),
            ("fspiop-source", "dfsp-b"),
        ]);
        assert_eq!(check(&h, "parties", true).map(|f| f.version), Ok((1, 1)));
        let h = headers(&[
            ("accept", "*/*"),
            ("date", DATE),
            ("fspiop-source", "dfsp-b"),
        ]);
        let e = check(&h, "parties", false).expect_err("refused");
        assert_eq!(e.code, 3101);
        assert!(
            e.description
                .starts_with("Malformed syntax - Invalid accept header"),
            "{}",
            e.description
        );
    }

    #[test]
    fn required_headers_are_named_when_missing() {
        let h = headers(&[
            (
                "accept",
                "application/vnd.interoperability.parties+json;version=1",
            ),
            ("fspiop-source", "dfsp-a"),
        ]);
        let e = check(&h, "parties", false).expect_err("no date");
        assert_eq!(e.code, 3102);
        assert!(e.description.contains("\"date\""));
        let h = headers(&[
            (
                "accept",
                "application/vnd.interoperability.parties+json;version=1",
            ),
            ("date", DATE),
        ]);
        assert!(
            check(&h, "parties", false)
                .expect_err("no source")
                .description
                .contains("fspiop-source")
        );
        for media in [
            "application/json",
            "application/xml",
            "application/vnd.interoperability.quotes+json;",
        ] {
            let h = headers(&[
                ("content-type", media),
                ("date", DATE),
                ("fspiop-source", "dfsp-a"),
            ]);
            assert_eq!(
                check(&h, "quotes", true).map_err(|e| e.code),
                Err(3101),
                "{media}"
            );
        }
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(1_796_151_600_000),
            "Tue, 01 Dec 2026 19:00:00 GMT"
        );
    }
}
