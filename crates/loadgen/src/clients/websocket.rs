//! WebSocket (RFC 6455) client: the upgrade by hand, then server frames parsed in place
//! from the connection buffer (`pushbench_wire::ws`). Written here rather than borrowed so
//! that every byte on the wire is accounted for and reading stays cancel-safe next to the
//! echo publisher's timer.

use super::{Client, push_decimal, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_head;
use crate::scenario::{Pattern, RequestKind};
use crate::stats::SeqState;
use base64::Engine as _;
use bytes::Buf;
use pushbench_wire::clock::instant_at;
use pushbench_wire::parse_header;
use pushbench_wire::ws::{
    OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, encode_client_frame, next_frame,
};

pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, true).await?;
    // Masking keys and the handshake's nonce need only be unpredictable to intermediaries
    // (RFC 6455 §5.3, §4.1), not cryptographically strong.
    let mut rng = fastrand::Rng::new();

    let block = plan.heads.get(RequestKind::WebSocket);
    let mut req = Vec::with_capacity(block.len() + 192);
    req.extend_from_slice(b"GET /ws?topic=");
    push_decimal(&mut req, u64::from(client.topic));
    // After a reconnect, resume after the last message seen; what the ring no longer holds
    // shows up as a gap and is counted as lost.
    if let Some(c) = seq.cursor {
        req.extend_from_slice(b"&cursor=");
        push_decimal(&mut req, c);
    }
    req.extend_from_slice(b" HTTP/1.1\r\n");
    req.extend_from_slice(block);
    req.extend_from_slice(b"connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ");
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    let mut key = [0u8; 24];
    base64::engine::general_purpose::STANDARD
        .encode_slice(nonce, &mut key)
        .expect("16 bytes are 24 base64 characters");
    req.extend_from_slice(&key);
    req.extend_from_slice(b"\r\n\r\n");
    conn.send(&req, true).await?;

    let (head, t) = read_head(&mut conn).await?;
    if head.status != 101 {
        return Err(ClientError::Status(head.status));
    }
    client.meter.down_was_setup(head.len, t);
    client.meter.handshake_done(t - conn.started_ns);
    conn.buf.advance(head.len);

    let echo = plan.pattern == Pattern::Echo;
    let period_ns = if echo {
        (1e9 / plan.rate) as u64
    } else {
        u64::MAX
    };
    let mut tick = 0u64;
    let mut out = Vec::with_capacity(plan.payload.len() + 64);
    let mut body = bytes::BytesMut::with_capacity(plan.payload.len() + 32);
    let mut t = t;
    // Halfway through the drain the client starts the closing handshake (RFC 6455 §7), so
    // the connection ends cleanly with every byte both sides sent accounted for.
    let window = client.meter.window();
    let close_at = window.end + (window.close - window.end) / 2;
    let mut closing = false;
    // Both timers live across iterations: one made per message would register and remove a
    // timer entry for every frame received.
    let close_timer = sleep_until_ns(close_at);
    let echo_timer = tokio::time::sleep_until(instant_at(client.start_ns).into());
    tokio::pin!(close_timer, echo_timer);
    loop {
        while let Some(frame) = next_frame(&conn.buf)? {
            let payload = &conn.buf[frame.payload.clone()];
            match frame.opcode {
                OP_TEXT | OP_BINARY => client.meter.message(seq, parse_header(payload)?, t),
                OP_PING => {
                    out.clear();
                    encode_client_frame(OP_PONG, payload, rng.u32(..), &mut out);
                    conn.buf.advance(frame.len);
                    conn.send(&out, false).await?;
                    continue;
                }
                OP_PONG => {}
                OP_CLOSE if closing => return Ok(()),
                OP_CLOSE => {
                    out.clear();
                    encode_client_frame(
                        OP_CLOSE,
                        payload.get(..2).unwrap_or(&[]),
                        rng.u32(..),
                        &mut out,
                    );
                    conn.send(&out, false).await?;
                    return Err(ClientError::Closed);
                }
                op => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected WebSocket opcode {op:#x}"
                    )));
                }
            }
            conn.buf.advance(frame.len);
        }
        let due = client
            .start_ns
            .saturating_add(tick.saturating_mul(period_ns));
        tokio::select! {
            r = conn.fill() => t = r?,
            _ = &mut close_timer, if !closing => {
                closing = true;
                out.clear();
                encode_client_frame(OP_CLOSE, &1000u16.to_be_bytes(), rng.u32(..), &mut out);
                conn.send(&out, false).await?;
            }
            _ = &mut echo_timer, if echo && due < window.end => {
                tick += 1;
                let next = client.start_ns.saturating_add(tick.saturating_mul(period_ns));
                echo_timer.as_mut().reset(instant_at(next).into());
                body.clear();
                pushbench_wire::encode_publish(due, &plan.payload, &mut body);
                out.clear();
                encode_client_frame(OP_TEXT, &body, rng.u32(..), &mut out);
                conn.send(&out, false).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let out = base64::engine::general_purpose::STANDARD.encode(input);
            assert_eq!(out, want);
        }
    }
}
