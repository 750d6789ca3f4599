//! `GET /`: the live page, a self-contained HTML document (inline script and style, nothing
//! fetched from elsewhere) that runs the five push transports in the browser that opens it,
//! with the browser's own APIs, and shows what each delivers (`live.html`, README "The live
//! page"). And `GET /clock`: the server's clock, from which the page estimates the offset
//! between the browser's clock and the one every `sent_ns` is stamped with.
//!
//! The page is compiled into the binary, its reference clients inlined from
//! `pushbench_model::client` once, and served from that buffer: an answer copies nothing
//! and allocates only hyper's head.

use crate::body::Body;
use crate::routes::{Resp, text_response};
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue};

/// The page, as it is served: `live.html` with the reference clients in their place.
static PAGE: std::sync::LazyLock<Bytes> = std::sync::LazyLock::new(|| {
    Bytes::from(pushbench_model::client::with_browser_clients(include_str!(
        "live.html"
    )))
});

/// What the page may load and connect to: its own inline script and style, and its own
/// origin (fetch, EventSource, WebSocket). The browser enforces it, so the page cannot come
/// to depend on anything outside the server by accident.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
                      style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

/// The live page.
pub(crate) fn page() -> Resp {
    let body = Body::full(PAGE.clone());
    let mut resp = text_response(StatusCode::OK, "text/html; charset=utf-8", body);
    resp.headers_mut()
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    resp
}

/// The server's `CLOCK_MONOTONIC` now, in nanoseconds, as 16 lowercase hex digits and a
/// newline: the format of an envelope's `sent_ns` (`docs/protocol.md`).
pub(crate) fn clock() -> Resp {
    let now = format!("{:016x}\n", pushbench_wire::clock::now_ns());
    let mut resp = text_response(StatusCode::OK, "text/plain", Body::full(now));
    // A cached reading would be a wrong one.
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
