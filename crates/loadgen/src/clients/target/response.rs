//! Streaming and SSE from a target: one request, one long answer whose body carries the
//! messages, chunked (RFC 9112 §7.1) or ended only by the close of the connection (nchan's
//! EventSource answers have neither `Content-Length` nor chunking, RFC 9112 §6.3 rule 8).
//! The body is scanned for envelopes as it arrives; the bytes of a message cut off by the
//! end of a read are kept for the next.

use super::TargetClient;
use crate::clients::Client;
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::{Chunked, read_head};
use crate::stats::SeqState;
use bytes::{Buf, BytesMut};
use pushbench_wire::scan::scan;

pub(super) async fn session(
    client: &Client,
    target: &TargetClient,
    seq: &mut SeqState,
) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, true).await?;
    let block = plan.heads.get(plan.kind.descriptor().request_kind);
    let mut req = Vec::with_capacity(block.len() + target.extra.len() + 128);
    req.extend_from_slice(b"GET ");
    req.extend_from_slice(&target.request_target(client));
    req.extend_from_slice(b" HTTP/1.1\r\n");
    req.extend_from_slice(block);
    req.extend_from_slice(&target.extra);
    req.extend_from_slice(b"\r\n");
    conn.send(&req, true).await?;

    let (head, mut t) = read_head(&mut conn).await?;
    if head.status != 200 {
        return Err(ClientError::Status(head.status));
    }
    if head.content_length.is_some() && !head.chunked {
        return Err(ClientError::Protocol(
            "expected a streamed answer (chunked, or ended by the close), found one with Content-Length".into(),
        ));
    }
    client.meter.down_was_setup(head.len, t);
    client.meter.handshake_done(t - conn.started_ns);
    conn.buf.advance(head.len);

    let payload = &plan.payload;
    let mut chunks = head.chunked.then(Chunked::default);
    let mut body = BytesMut::with_capacity(1024);
    loop {
        let found = |h| client.meter.message(seq, h, t);
        match &mut chunks {
            Some(state) => {
                state.decode(&mut conn.buf, &mut body)?;
                let used = scan(&body, payload, found);
                body.advance(used);
                if *state == Chunked::Done {
                    return Err(ClientError::Closed);
                }
            }
            // Ended by the close: the body is the connection's bytes themselves.
            None => {
                let used = scan(&conn.buf, payload, found);
                conn.buf.advance(used);
            }
        }
        t = conn.fill().await?;
    }
}
