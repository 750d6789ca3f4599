//! WebSocket (RFC 6455) client: the upgrade by hand, then server frames parsed in place
//! from the connection buffer (`pushbench_wire::ws`). Written here rather than borrowed so
//! that every byte on the wire is accounted for and reading stays cancel-safe next to the
//! echo publisher's timer.

use super::{Client, push_decimal, sleep_until_ns};
use crate::conn::Conn;
use crate::error::ClientError;
use crate::http::read_head;
use crate::scenario::{Pattern, RequestKind, TransportKind};
use crate::stats::SeqState;
use base64::Engine as _;
use bytes::Buf;
use pushbench_wire::clock::instant_at;
use pushbench_wire::parse_header;
use pushbench_wire::ws::{
    OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, encode_client_frame, next_frame,
};

/// One WebSocket connection: the upgrade, then frames until the phase ends.
pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut ws = Ws {
        conn: Conn::connect(client, true).await?,
        rng: fastrand::Rng::new(),
        out: Vec::with_capacity(plan.payload.len() + 64),
        closing: false,
    };
    let mut t = ws.handshake(client, seq).await?;
    let mut echo = Echo::new(client);
    // Halfway through the drain the client starts the closing handshake (RFC 6455 §7), so
    // the connection ends cleanly with every byte both sides sent accounted for.
    let window = client.meter.window();
    let close_at = window.end + (window.close - window.end) / 2;
    // Both timers live across iterations: one made per message would register and remove a
    // timer entry for every frame received.
    let close_timer = sleep_until_ns(close_at);
    let echo_timer = tokio::time::sleep_until(instant_at(client.start_ns).into());
    tokio::pin!(close_timer, echo_timer);
    loop {
        if ws.read_frames(client, seq, t).await? {
            return Ok(());
        }
        let due = echo.due(client);
        // In a fixed order, without the random start `select!` draws on every wake-up:
        // the timers first, so a connection that always has bytes to read still closes
        // and echoes on time.
        tokio::select! {
            biased;
            _ = &mut close_timer, if !ws.closing => {
                ws.closing = true;
                ws.send(OP_CLOSE, &1000u16.to_be_bytes()).await?;
            }
            _ = &mut echo_timer, if echo.on && due < window.end => {
                echo.tick += 1;
                echo_timer.as_mut().reset(instant_at(echo.due(client)).into());
                echo.body.clear();
                pushbench_wire::encode_publish(due, &plan.payload, &mut echo.body);
                ws.send(OP_TEXT, &echo.body).await?;
            }
            r = ws.conn.fill() => t = r?,
        }
    }
}

/// A connection after its upgrade.
struct Ws {
    conn: Conn,
    /// Masking keys and the handshake's nonce need only be unpredictable to intermediaries
    /// (RFC 6455 §5.3, §4.1), not cryptographically strong.
    rng: fastrand::Rng,
    /// The frame being sent.
    out: Vec<u8>,
    /// Whether the client has sent its close frame.
    closing: bool,
}

/// The echo pattern's schedule: message `tick` is due at `start + tick × period`.
struct Echo {
    on: bool,
    period_ns: u64,
    tick: u64,
    /// The publish body being sent.
    body: bytes::BytesMut,
}

impl Echo {
    fn new(client: &Client) -> Echo {
        let plan = &*client.plan;
        let on = plan.pattern == Pattern::Echo;
        Echo {
            on,
            period_ns: if on {
                (1e9 / plan.rate) as u64
            } else {
                u64::MAX
            },
            tick: 0,
            body: bytes::BytesMut::with_capacity(plan.payload.len() + 32),
        }
    }

    fn due(&self, client: &Client) -> u64 {
        client
            .start_ns
            .saturating_add(self.tick.saturating_mul(self.period_ns))
    }
}

impl Ws {
    /// Sends the upgrade request and reads the `101`; returns when its last byte came.
    async fn handshake(&mut self, client: &Client, seq: &SeqState) -> Result<u64, ClientError> {
        let block = client.plan.heads.get(RequestKind::WebSocket);
        let mut req = Vec::with_capacity(block.len() + 192);
        req.extend_from_slice(b"GET ");
        req.extend_from_slice(TransportKind::WebSocket.path().as_bytes());
        req.extend_from_slice(b"?topic=");
        push_decimal(&mut req, u64::from(client.topic));
        // After a reconnect, resume after the last message seen; what the ring no longer
        // holds shows up as a gap and is counted as lost.
        if let Some(c) = seq.cursor {
            req.extend_from_slice(b"&cursor=");
            push_decimal(&mut req, c);
        }
        req.extend_from_slice(b" HTTP/1.1\r\n");
        req.extend_from_slice(block);
        req.extend_from_slice(b"connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ");
        let mut nonce = [0u8; 16];
        self.rng.fill(&mut nonce);
        let mut key = [0u8; 24];
        base64::engine::general_purpose::STANDARD
            .encode_slice(nonce, &mut key)
            .expect("16 bytes are 24 base64 characters");
        req.extend_from_slice(&key);
        req.extend_from_slice(b"\r\n\r\n");
        self.conn.send(&req, true).await?;
        let (head, t) = read_head(&mut self.conn).await?;
        if head.status != 101 {
            return Err(ClientError::Status(head.status));
        }
        client.meter.down_was_setup(head.len, t);
        client.meter.handshake_done(t - self.conn.started_ns);
        self.conn.buf.advance(head.len);
        Ok(t)
    }

    /// Handles every whole frame in the buffer, read at `t`; true when the server has
    /// answered the client's close frame and the session is over.
    async fn read_frames(
        &mut self,
        client: &Client,
        seq: &mut SeqState,
        t: u64,
    ) -> Result<bool, ClientError> {
        while let Some(frame) = next_frame(&self.conn.buf)? {
            let payload = &self.conn.buf[frame.payload.clone()];
            let answer = match frame.opcode {
                OP_TEXT | OP_BINARY => {
                    client.meter.message(seq, parse_header(payload)?, t);
                    None
                }
                OP_PING => Some(OP_PONG),
                OP_PONG => None,
                OP_CLOSE if self.closing => return Ok(true),
                OP_CLOSE => Some(OP_CLOSE),
                op => {
                    return Err(ClientError::Protocol(format!(
                        "unexpected WebSocket opcode {op:#x}"
                    )));
                }
            };
            if let Some(op) = answer {
                // A pong echoes the ping; a close answer the status code alone.
                let echoed = if op == OP_CLOSE {
                    payload.get(..2).unwrap_or(&[])
                } else {
                    payload
                };
                self.out.clear();
                encode_client_frame(op, echoed, self.rng.u32(..), &mut self.out);
                self.conn.buf.advance(frame.len);
                self.conn.send(&self.out, false).await?;
                if op == OP_CLOSE {
                    return Err(ClientError::Closed);
                }
                continue;
            }
            self.conn.buf.advance(frame.len);
        }
        Ok(false)
    }

    /// Sends one masked frame.
    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), ClientError> {
        self.out.clear();
        encode_client_frame(opcode, payload, self.rng.u32(..), &mut self.out);
        self.conn.send(&self.out, false).await.map(drop)
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
