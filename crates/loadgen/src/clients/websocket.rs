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
use pushbench_wire::now_ns;
use pushbench_wire::parse_header;
use pushbench_wire::ws::{
    OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, encode_client_frame, next_frame,
};

/// One WebSocket connection to pushbench's server: the upgrade, then frames until the phase
/// ends.
pub(crate) async fn session(client: &Client, seq: &mut SeqState) -> Result<(), ClientError> {
    let mut target = Vec::with_capacity(64);
    target.extend_from_slice(TransportKind::WebSocket.path().as_bytes());
    target.extend_from_slice(b"?topic=");
    push_decimal(&mut target, u64::from(client.topic));
    // After a reconnect, resume after the last message seen; what the ring no longer
    // holds shows up as a gap and is counted as lost.
    if let Some(c) = seq.cursor {
        target.extend_from_slice(b"&cursor=");
        push_decimal(&mut target, c);
    }
    let dialect = Dialect {
        target: &target,
        extra: &[],
        scan: false,
        marked: false,
    };
    run(client, seq, &dialect).await
}

/// What differs between pushbench's server and a target's: the upgrade's request target
/// and extra fields, and how messages are found and echoed.
pub(crate) struct Dialect<'a> {
    /// The request target of the upgrade: path and query.
    pub(crate) target: &'a [u8],
    /// The target's own header fields, `Name: value\r\n` each, after the `[http]` profile's.
    pub(crate) extra: &'a [u8],
    /// Find messages by scanning each frame for envelopes (`pushbench_wire::scan`), instead
    /// of reading each frame as exactly one.
    pub(crate) scan: bool,
    /// Echo marked envelopes numbered by the client (a target echoes them as they are),
    /// instead of publish bodies the server numbers.
    pub(crate) marked: bool,
}

/// One WebSocket connection: the upgrade, then frames until the phase ends.
pub(crate) async fn run(
    client: &Client,
    seq: &mut SeqState,
    dialect: &Dialect<'_>,
) -> Result<(), ClientError> {
    let plan = &*client.plan;
    let mut ws = Ws {
        conn: Conn::connect(client, true).await?,
        rng: fastrand::Rng::new(),
        out: Vec::with_capacity(plan.payload.len() + 64),
        closing: false,
    };
    let mut t = ws.handshake(client, dialect).await?;
    let mut echo = Echo::new(client, dialect.marked);
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
        let read = ws.read_frames(client, seq, t, dialect.scan).await?;
        if read.closed {
            return Ok(());
        }
        // A closed loop sends its next message as soon as the last one's echo is back.
        echo.waiting &= read.messages == 0;
        if echo.closed && !echo.waiting && !ws.closing && now_ns() < window.end {
            echo.waiting = true;
            let body = echo.next(client, now_ns());
            ws.send(OP_TEXT, body).await?;
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
            _ = &mut echo_timer, if echo.open && due < window.end => {
                echo_timer.as_mut().reset(instant_at(echo.due_after(client)).into());
                let body = echo.next(client, due);
                ws.send(OP_TEXT, body).await?;
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

/// What a client sends in the echo pattern: on an open loop message `tick` is due at
/// `start + tick × period`; on a closed loop the next message goes out when the last one's
/// echo is back (one in flight per connection, as uWebSockets' `load_test` does).
struct Echo {
    /// Sends on the open-loop schedule.
    open: bool,
    /// Sends on a closed loop.
    closed: bool,
    /// Closed loop: a message is out and its echo is not back yet.
    waiting: bool,
    period_ns: u64,
    tick: u64,
    /// Marked envelopes numbered by the client, not publish bodies.
    marked: bool,
    /// The message being sent.
    body: bytes::BytesMut,
}

impl Echo {
    fn new(client: &Client, marked: bool) -> Echo {
        let plan = &*client.plan;
        let echo = plan.pattern == Pattern::Echo;
        let closed = echo && plan.closed_loop;
        Echo {
            open: echo && !closed,
            closed,
            waiting: false,
            period_ns: if echo && !closed {
                (1e9 / plan.rate) as u64
            } else {
                u64::MAX
            },
            tick: 0,
            marked,
            body: bytes::BytesMut::with_capacity(plan.payload.len() + 32),
        }
    }

    fn due(&self, client: &Client) -> u64 {
        client
            .start_ns
            .saturating_add(self.tick.saturating_mul(self.period_ns))
    }

    /// When the message after the next is due.
    fn due_after(&self, client: &Client) -> u64 {
        client
            .start_ns
            .saturating_add((self.tick + 1).saturating_mul(self.period_ns))
    }

    /// The next message, stamped `sent_ns`, counted as published.
    fn next(&mut self, client: &Client, sent_ns: u64) -> &[u8] {
        self.tick += 1;
        self.body.clear();
        let payload = &client.plan.payload;
        if self.marked {
            // Message k (from 0) is number k + 1, as a server would number it.
            pushbench_wire::scan::encode_marked(self.tick, sent_ns, payload, &mut self.body);
        } else {
            pushbench_wire::encode_publish(sent_ns, payload, &mut self.body);
        }
        client.meter.published(sent_ns);
        &self.body
    }
}

/// What one pass over the read buffer found.
struct Read {
    /// The server answered the client's close frame: the session is over.
    closed: bool,
    /// Messages found.
    messages: u64,
}

impl Ws {
    /// Sends the upgrade request and reads the `101`; returns when its last byte came.
    async fn handshake(
        &mut self,
        client: &Client,
        dialect: &Dialect<'_>,
    ) -> Result<u64, ClientError> {
        let block = client.plan.heads.get(RequestKind::WebSocket);
        let mut req = Vec::with_capacity(block.len() + dialect.extra.len() + 256);
        req.extend_from_slice(b"GET ");
        req.extend_from_slice(dialect.target);
        req.extend_from_slice(b" HTTP/1.1\r\n");
        req.extend_from_slice(block);
        req.extend_from_slice(dialect.extra);
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

    /// Handles every whole frame in the buffer, read at `t`.
    async fn read_frames(
        &mut self,
        client: &Client,
        seq: &mut SeqState,
        t: u64,
        scan: bool,
    ) -> Result<Read, ClientError> {
        let mut read = Read {
            closed: false,
            messages: 0,
        };
        while let Some(frame) = next_frame(&self.conn.buf)? {
            let payload = &self.conn.buf[frame.payload.clone()];
            let answer = match frame.opcode {
                OP_TEXT | OP_BINARY if scan => {
                    let expected = &client.plan.payload;
                    pushbench_wire::scan::scan(payload, expected, |h| {
                        client.meter.message(seq, h, t);
                        read.messages += 1;
                    });
                    None
                }
                OP_TEXT | OP_BINARY => {
                    client.meter.message(seq, parse_header(payload)?, t);
                    read.messages += 1;
                    None
                }
                OP_PING => Some(OP_PONG),
                OP_PONG => None,
                OP_CLOSE if self.closing => {
                    read.closed = true;
                    return Ok(read);
                }
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
        Ok(read)
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
