//! `GET /sse?topic=T[&cursor=C]`: Server-Sent Events, one event per message in its own
//! chunk, a `:` comment when idle, and `Last-Event-ID` to resume.
//!
//! `cursor` is for a browser's `EventSource`, which cannot set `Last-Event-ID` on its first
//! request: it keeps the URL for its reconnects and adds the header once it has seen an
//! event's `id:`, so the header, when present, is the newer position and wins.

use super::Exchange;
use crate::body::{Body, Framing, PushBody};
use crate::hub::Message;
use crate::routes::{Handled, Rejection, start, text_response, topic};
use hyper::StatusCode;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use pushbench_wire::parse_decimal;

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let Exchange {
        state,
        slot,
        query,
        req,
    } = x;
    let topic = topic(&state, &query)?;
    let last_id = match req.headers().get("last-event-id") {
        Some(v) => Some(
            parse_decimal(v.as_bytes())
                .ok_or_else(|| Rejection::bad("Last-Event-ID must be a decimal sequence number"))?,
        ),
        None => query.cursor,
    };
    drop(req);
    let (head, cursor) = start(&topic, last_id)?;
    let framing = Framing {
        data: Message::sse_event,
        heartbeat: Some(state.config.sse_heartbeat),
    };
    let body = PushBody::new(framing, topic, head, cursor, state.clone());
    slot.pushing(body.progress());
    let mut resp = text_response(
        StatusCode::OK,
        "text/event-stream",
        Body::Push(Box::new(body)),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    state.add_response_headers(resp.headers_mut());
    Ok(Handled::now(resp))
}
