//! WebSocket (RFC 6455) client: the upgrade by hand, then server frames parsed in place
//! from the connection buffer. Written here rather than borrowed so that every byte on the
//! wire is accounted for and reading stays cancel-safe next to the echo publisher's timer.

use super::{Client, push_decimal, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_head;
use crate::scenario::{Pattern, RequestKind};
use crate::stats::SeqState;
use bytes::Buf;
use pushbench_wire::clock::instant_at;
use pushbench_wire::{now_ns, parse_header};

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut conn = Conn::connect(client, true).await?;
    let mut rng = XorShift(u64::from(client.index) << 32 ^ now_ns() | 1);

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
    nonce[..8].copy_from_slice(&rng.next().to_le_bytes());
    nonce[8..].copy_from_slice(&rng.next().to_le_bytes());
    base64(&nonce, &mut req);
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
                    encode_client_frame(OP_PONG, payload, rng.next() as u32, &mut out);
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
                        rng.next() as u32,
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
                encode_client_frame(OP_CLOSE, &1000u16.to_be_bytes(), rng.next() as u32, &mut out);
                conn.send(&out, false).await?;
            }
            _ = &mut echo_timer, if echo && due < window.end => {
                tick += 1;
                let next = client.start_ns.saturating_add(tick.saturating_mul(period_ns));
                echo_timer.as_mut().reset(instant_at(next).into());
                body.clear();
                pushbench_wire::encode_publish(due, &plan.payload, &mut body);
                out.clear();
                encode_client_frame(OP_TEXT, &body, rng.next() as u32, &mut out);
                conn.send(&out, false).await?;
            }
        }
    }
}

/// One server frame found by [`next_frame`].
pub struct Frame {
    /// The opcode (RFC 6455 §5.2).
    pub opcode: u8,
    /// Bytes of the whole frame, header included.
    pub len: usize,
    /// Where the payload lies in the buffer given to [`next_frame`].
    pub payload: std::ops::Range<usize>,
}

/// Parses one server frame at the start of `buf`; `None` until it is complete.
pub fn next_frame(buf: &[u8]) -> Result<Option<Frame>, ClientError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(ClientError::Protocol(
            "WebSocket frame with RSV bits set".into(),
        ));
    }
    if b0 & 0x80 == 0 || b0 & 0x0f == 0 {
        return Err(ClientError::Protocol(
            "fragmented WebSocket message (pushbench sends one frame per message)".into(),
        ));
    }
    if b1 & 0x80 != 0 {
        return Err(ClientError::Protocol(
            "masked frame from the server (RFC 6455 §5.1)".into(),
        ));
    }
    let (header, len) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            let n = u64::from_be_bytes(n);
            if n > 64 << 20 {
                return Err(ClientError::Protocol(format!(
                    "WebSocket frame of {n} bytes"
                )));
            }
            (10, n as usize)
        }
        126 | 127 => return Ok(None),
        n => (2, n as usize),
    };
    if buf.len() < header + len {
        return Ok(None);
    }
    Ok(Some(Frame {
        opcode: b0 & 0x0f,
        len: header + len,
        payload: header..header + len,
    }))
}

/// Appends a final, masked client frame (RFC 6455 §5.2, §5.3).
pub fn encode_client_frame(opcode: u8, payload: &[u8], mask: u32, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n <= 125 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = mask.to_be_bytes();
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

fn base64(input: &[u8], out: &mut Vec<u8>) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Masking keys need only be unpredictable to intermediaries, not cryptographically strong.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64(input.as_bytes(), &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn server_frames_of_each_length_form() {
        // RFC 6455 §5.7: a single-frame unmasked text message containing "Hello".
        let f = next_frame(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'])
            .unwrap()
            .unwrap();
        assert_eq!((f.opcode, f.len, f.payload), (1, 7, 2..7));
        let mut big = vec![0x82, 126, 0x01, 0x00];
        big.extend(std::iter::repeat_n(0u8, 256));
        assert_eq!(next_frame(&big).unwrap().unwrap().len, 260);
        assert!(next_frame(&big[..100]).unwrap().is_none());
        assert!(next_frame(&[0x01, 0x01, b'x']).is_err(), "fragment");
        assert!(
            next_frame(&[0x81, 0x81, 0, 0, 0, 0, b'x']).is_err(),
            "masked"
        );
    }

    #[test]
    fn client_frame_matches_rfc_example() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let mut out = Vec::new();
        encode_client_frame(OP_TEXT, b"Hello", 0x37fa213d, &mut out);
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }
}
