//! The overview, live: a server-sent event stream (`GET /live`) that
//! sends the overview's tables as they are now every [`INTERVAL_MS`],
//! and the one small script (`GET /live.js`) that puts them in place
//! without reloading the page, so the operator's focus and place on it
//! stay where they are. Without JavaScript the overview reloads itself
//! at the same pace (a `<noscript>` refresh), so it is live either way.
//!
//! Every stream is bounded: at most [`STREAMS_MAX`] open at once (one
//! more is answered 503, and the page falls back to reloading), each
//! ends after [`STREAM_MS_MAX`] (the browser opens the next one by
//! itself), when the switch stops, and when its session ends or the
//! Operator API refuses it (then an `ended` event tells the page to
//! reload, which leads to the sign-in page).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt as _;
use futures::stream::{self, Stream};
use tokio::sync::OwnedSemaphorePermit;

use crate::sessions::{COOKIE, Session};
use crate::{App, Signed, cookie_of, participants};

/// How often a stream sends the overview (and how often the page
/// reloads without JavaScript).
pub const INTERVAL_MS: u64 = 5_000;

/// Longest life of one stream; the browser reconnects after it.
pub const STREAM_MS_MAX: u64 = 300_000;

/// Streams open at once, over every session.
pub const STREAMS_MAX: usize = 64;

/// Where the page finds the script.
pub const SCRIPT_PATH: &str = "/live.js";

/// The id of the overview's element that the stream's HTML replaces.
pub const PART_ID: &str = "live";

/// The script: it opens the stream, puts each `overview` event's HTML in
/// place, gives the focus back to the link that had it, and reloads the
/// page when the stream cannot go on (an `ended` event, or a refusal).
const SCRIPT: &str = r#""use strict";
(function () {
  var part = document.getElementById("live");
  if (!part) { return; }
  var reload = function () { window.setTimeout(function () { window.location.reload(); }, 5000); };
  if (!window.EventSource) { reload(); return; }
  var source = new EventSource("/live");
  source.addEventListener("overview", function (event) {
    var focused = document.activeElement;
    var href = focused && part.contains(focused) ? focused.getAttribute("href") : null;
    part.innerHTML = event.data;
    if (href) {
      var links = part.querySelectorAll("a[href]");
      for (var i = 0; i < links.length; i++) {
        if (links[i].getAttribute("href") === href) { links[i].focus(); break; }
      }
    }
  });
  source.addEventListener("ended", function () { source.close(); window.location.reload(); });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) { reload(); }
  });
})();
"#;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/live", get(live))
        .route(SCRIPT_PATH, get(script))
}

async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What one stream carries from one event to the next.
struct Streaming {
    app: App,
    cookie: String,
    session: Session,
    started_ms: i64,
    _permit: OwnedSemaphorePermit,
}

async fn live(State(app): State<App>, headers: HeaderMap, Signed(session): Signed) -> Response {
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        metrics::counter!("harambee_console_live_refused_total").increment(1);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many live pages open").into_response();
    };
    // Signed found the session by this cookie.
    let cookie = cookie_of(&headers, COOKIE).unwrap_or_default().to_string();
    let streaming = Streaming {
        started_ms: app.now_ms(),
        app,
        cookie,
        session,
        _permit: permit,
    };
    metrics::counter!("harambee_console_live_streams_total").increment(1);
    let mut response = Sse::new(events(streaming))
        .keep_alive(KeepAlive::default())
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A proxy in front (nginx) passes the events on as they come.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// What a stream sends next.
enum Next {
    Overview(Box<Streaming>, String),
    /// The page should reload (the session is over, or refused).
    Ended,
    /// Nothing more: the stream's life is up or the switch is stopping.
    Done,
}

/// The stream's events: `retry` first, then an overview every
/// [`INTERVAL_MS`], until the stream has a reason to end.
fn events(first: Streaming) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    let retry = Event::default().retry(Duration::from_millis(INTERVAL_MS));
    let overviews = stream::unfold(Some(first), |state| async move {
        let s = state?;
        match next(s).await {
            Next::Overview(s, html) => {
                Some((Event::default().event("overview").data(html), Some(*s)))
            }
            Next::Ended => Some((Event::default().event("ended").data("ended"), None)),
            Next::Done => None,
        }
    });
    stream::once(async move { retry }).chain(overviews).map(Ok)
}

async fn next(s: Streaming) -> Next {
    let mut stop = s.app.settings.stop.clone();
    let wait = tokio::time::sleep(Duration::from_millis(INTERVAL_MS));
    tokio::select! {
        _ = wait => {}
        _ = async {
            match stop.as_mut() {
                Some(stop) => { let _ = stop.wait_for(|s| *s).await; }
                None => std::future::pending::<()>().await,
            }
        } => return Next::Done,
    }
    let now_ms = s.app.now_ms();
    if now_ms.saturating_sub(s.started_ms) >= i64::try_from(STREAM_MS_MAX).unwrap_or(i64::MAX) {
        return Next::Done;
    }
    // The session may have expired or been closed since the last event.
    let Some(session) = s.app.sessions.get(&s.cookie, now_ms) else {
        return Next::Ended;
    };
    match participants::overview_live(&s.app, &session).await {
        // An event's data cannot hold a carriage return; in the HTML it
        // is the same character written as a reference.
        Ok(html) => {
            let html = html.into_string().replace('\r', "&#13;");
            Next::Overview(Box::new(Streaming { session, ..s }), html)
        }
        Err(status) => {
            tracing::info!(operator = %s.session.operator, code = ?status.code(), "console live stream refused");
            Next::Ended
        }
    }
}

/// Shared by the router: the streams' bound.
pub(crate) fn streams() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(STREAMS_MAX))
}
