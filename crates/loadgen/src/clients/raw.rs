//! The raw stream (`/raw`): one upgrade request, the `101`, then lines, each a message
//! followed by `\n` (`pushbench_wire::raw`), until the connection ends. The floor: nothing
//! frames a message, so its bytes on the wire are the message and one byte.

use super::{Client, push_decimal};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_head;
use crate::stats::SeqState;
use bytes::Buf;
use pushbench_model::protocol::MAX_PAYLOAD;
use pushbench_wire::raw::{Lines, UPGRADE};
use pushbench_wire::{HEADER_LEN, parse_header};

/// The longest message a server may send: the largest a workload allows.
const MAX_MESSAGE: usize = HEADER_LEN + MAX_PAYLOAD as usize;

/// One connection: the upgrade, then every line until the connection ends (which for this
/// client is always the server's doing, counted as `closed`, or the phase's end).
pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let mut conn = Conn::connect(client, true).await?;
    conn.send(&request(client, seq.cursor), true).await?;
    let (head, mut t) = read_head(&mut conn).await?;
    if head.status != 101 {
        return Err(ClientError::Status(head.status));
    }
    client.meter.down_was_setup(head.len, t);
    client.meter.handshake_done(t - conn.started_ns);
    conn.buf.advance(head.len);
    // A partial line when the connection ends is no message: it is dropped with the
    // buffer, and the reconnect's cursor asks for it again.
    let mut lines = Lines::new(MAX_MESSAGE);
    loop {
        while let Some(n) = lines.next(&conn.buf)? {
            client.meter.message(seq, parse_header(&conn.buf[..n])?, t);
            conn.buf.advance(n + 1);
        }
        t = conn.fill().await?;
    }
}

/// `GET /raw?topic=T[&cursor=C]` with the upgrade's two fields; after a reconnect it
/// resumes after the last message seen (what the ring no longer holds shows up as a gap).
fn request(client: &Client, cursor: Option<u64>) -> Vec<u8> {
    let plan = &*client.plan;
    let block = plan.heads.get(plan.kind.descriptor().request_kind);
    let mut req = Vec::with_capacity(block.len() + 128);
    req.extend_from_slice(b"GET ");
    req.extend_from_slice(plan.kind.path().as_bytes());
    req.extend_from_slice(b"?topic=");
    push_decimal(&mut req, u64::from(client.topic));
    if let Some(c) = cursor {
        req.extend_from_slice(b"&cursor=");
        push_decimal(&mut req, c);
    }
    req.extend_from_slice(b" HTTP/1.1\r\n");
    req.extend_from_slice(block);
    req.extend_from_slice(b"connection: Upgrade\r\nupgrade: ");
    req.extend_from_slice(UPGRADE.as_bytes());
    req.extend_from_slice(b"\r\n\r\n");
    req
}
