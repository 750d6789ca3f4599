//! A raw WebSocket client for tests that check the server's exact frames (of any length,
//! written and read by hand), and polling `/stats` until a counter moves.
// Test helpers named after what they build; documenting each would repeat its name.
#![allow(missing_docs)]

use crate::raw::Conn;
use crate::{TestServer, WAIT};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

/// The example key of RFC 6455 §1.3.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;

/// Upgrades `conn` to a WebSocket on `topic`.
pub async fn upgrade(conn: &mut Conn, topic: u64) {
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    conn.send_request("GET", &format!("/ws?topic={topic}"), &headers, b"")
        .await;
    let (status, _) = conn.read_head().await;
    assert_eq!(status, 101);
}

/// A WebSocket on `topic`.
pub async fn open_ws(server: &TestServer, topic: u64) -> Conn {
    let mut conn = server.connect().await;
    upgrade(&mut conn, topic).await;
    conn
}

/// A connection whose receive buffer is as small as the kernel allows, so that a client
/// that does not read stops the server's writes after a few kilobytes.
pub async fn connect_small(server: &TestServer) -> Conn {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    Conn::new(socket.connect(server.addr).await.expect("connect"))
}

/// A masked client frame of any length.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![(u8::from(fin) << 7) | opcode];
    push_len(&mut frame, 0x80, payload.len());
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// An unmasked frame, which a client must never send.
pub fn unmasked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    push_len(&mut frame, 0, payload.len());
    frame.extend_from_slice(payload);
    frame
}

fn push_len(frame: &mut Vec<u8>, mask_bit: u8, len: usize) {
    match len {
        0..=125 => frame.push(mask_bit | len as u8),
        126..=65_535 => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// A server frame: FIN + opcode byte and payload.
#[derive(Debug)]
pub struct ServerFrame {
    pub first: u8,
    pub payload: Vec<u8>,
}

impl ServerFrame {
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// The status code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode() == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one server frame of any length; server frames are never masked.
pub async fn read_frame(conn: &mut Conn) -> ServerFrame {
    let head = conn.take(2).await;
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = match head[1] & 0x7f {
        126 => u16::from_be_bytes(conn.take(2).await.try_into().unwrap()) as usize,
        127 => u64::from_be_bytes(conn.take(8).await.try_into().unwrap()) as usize,
        n => usize::from(n),
    };
    ServerFrame {
        first: head[0],
        payload: conn.take(len).await,
    }
}

/// Reads frames until a close frame and returns its code; text frames before it are
/// skipped.
pub async fn read_close(conn: &mut Conn) -> u16 {
    loop {
        let frame = read_frame(conn).await;
        if frame.opcode() == CLOSE {
            return frame
                .close_code()
                .expect("a close frame with a status code");
        }
    }
}

/// How a connection ended, read to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A WebSocket close frame with this code, then the end.
    Close(u16),
    /// The socket ended (EOF or reset) without a close frame.
    Cut,
}

/// Reads raw WebSocket frames from `conn` until the socket ends, and reports whether a
/// close frame came; a frame cut off by the end counts as none. Returns the text frames'
/// count too.
pub async fn read_ws_to_end(conn: &mut Conn) -> (End, u64) {
    let mut texts = 0;
    let mut closed = None;
    let mut eof = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Take every whole frame that is buffered.
        while let Some((first, payload_at, len)) = parse_head(&conn.buf) {
            if conn.buf.len() < payload_at + len {
                break;
            }
            let frame: Vec<u8> = conn.buf.drain(..payload_at + len).collect();
            match first & 0x0f {
                TEXT => texts += 1,
                CLOSE => {
                    let p = &frame[payload_at..];
                    closed = Some(u16::from_be_bytes([p[0], p[1]]));
                }
                other => panic!("unexpected opcode {other}"),
            }
        }
        if eof {
            let end = closed.map_or(End::Cut, End::Close);
            return (end, texts);
        }
        let n = tokio::time::timeout(WAIT, conn.stream.read(&mut chunk))
            .await
            .expect("the server ends the connection in time")
            .unwrap_or(0);
        if n == 0 {
            eof = true;
        }
        conn.buf.extend_from_slice(&chunk[..n]);
    }
}

/// (first byte, payload offset, payload length) of the frame at the start of `buf`.
fn parse_head(buf: &[u8]) -> Option<(u8, usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    match buf[1] & 0x7f {
        126 if buf.len() >= 4 => Some((buf[0], 4, u16::from_be_bytes([buf[2], buf[3]]).into())),
        127 if buf.len() >= 10 => {
            let len = u64::from_be_bytes(buf[2..10].try_into().unwrap());
            Some((buf[0], 10, len as usize))
        }
        126 | 127 => None,
        n => Some((buf[0], 2, n.into())),
    }
}

/// Polls `/stats` until `field` reaches `at_least`, failing the test after [`WAIT`].
pub async fn await_stat(server: &TestServer, field: &str, at_least: u64) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = server.stats().await;
        if stats[field].as_u64().is_some_and(|v| v >= at_least) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "{field} stayed below {at_least}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
