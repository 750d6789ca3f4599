//! HTTP chunked streaming and Server-Sent Events: one long response whose chunks carry the
//! messages. They share the connection and de-chunking; only the body syntax differs.

use super::{Client, push_decimal};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::{Chunked, read_head};
use crate::scenario::TransportKind;
use crate::stats::SeqState;
use bytes::{Buf, BytesMut};
use pushbench_wire::{parse_header, sse};

pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let is_sse = plan.kind == TransportKind::Sse;
    let mut conn = Conn::connect(client, true).await?;

    let req = request(client, seq.cursor);
    conn.send(&req, true).await?;

    let (head, mut t) = read_head(&mut conn).await?;
    if head.status != 200 {
        return Err(ClientError::Status(head.status));
    }
    if !head.chunked {
        return Err(ClientError::Protocol("expected a chunked response".into()));
    }
    client.meter.down_was_setup(head.len, t);
    client.meter.handshake_done(t - conn.started_ns);
    conn.buf.advance(head.len);

    let mut state = Chunked::default();
    let mut body = BytesMut::with_capacity(1024);
    loop {
        state.decode(&mut conn.buf, &mut body)?;
        if is_sse {
            while let Some((used, event)) = sse::next_event(&body)? {
                if let Some(data) = event.data {
                    client.meter.message(seq, parse_header(data)?, t);
                }
                body.advance(used);
            }
        } else {
            while let Some(nl) = body.iter().position(|&b| b == b'\n') {
                client.meter.message(seq, parse_header(&body[..nl])?, t);
                body.advance(nl + 1);
            }
        }
        if state == Chunked::Done {
            return Err(ClientError::Closed);
        }
        t = conn.fill().await?;
    }
}

/// The request of a stream or SSE connection; after a reconnect it resumes where the last
/// connection stopped (the server replays what its ring still holds and the rest shows up
/// as a gap): a stream with `cursor`, SSE with `Last-Event-ID` as an `EventSource` does.
fn request(client: &Client, cursor: Option<u64>) -> Vec<u8> {
    let plan = &*client.plan;
    let is_sse = plan.kind == TransportKind::Sse;
    // For SSE the block holds the Accept: text/event-stream an EventSource sends.
    let block = plan.heads.get(plan.kind.descriptor().request_kind);
    let mut req = Vec::with_capacity(block.len() + 96);
    req.extend_from_slice(b"GET ");
    req.extend_from_slice(plan.kind.path().as_bytes());
    req.extend_from_slice(b"?topic=");
    push_decimal(&mut req, u64::from(client.topic));
    if let (Some(c), false) = (cursor, is_sse) {
        req.extend_from_slice(b"&cursor=");
        push_decimal(&mut req, c);
    }
    req.extend_from_slice(b" HTTP/1.1\r\n");
    req.extend_from_slice(block);
    if let (Some(c), true) = (cursor, is_sse) {
        req.extend_from_slice(b"last-event-id: ");
        push_decimal(&mut req, c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req
}
