//! A raw WebSocket client for tests that check the server's exact frames (of any length,
//! written and read with `pushbench_wire::ws`, the load generator's codec), and polling
//! `/stats` until a counter moves.
// Test helpers named after what they build; documenting each would repeat its name.
#![allow(missing_docs)]

use crate::raw::Conn;
use crate::{TestServer, WAIT};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

/// The example key of RFC 6455 §1.3.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub use pushbench_wire::ws::{
    OP_BINARY as BINARY, OP_CLOSE as CLOSE, OP_PING as PING, OP_TEXT as TEXT,
};
use pushbench_wire::ws::{encode_frame, frame_head};

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

/// A masked client frame of any length, with RFC 6455 §5.7's example key.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_frame(
        fin,
        opcode,
        Some([0x37, 0xfa, 0x21, 0x3d]),
        payload,
        &mut frame,
    );
    frame
}

/// An unmasked frame, which a client must never send.
pub fn unmasked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_frame(true, opcode, None, payload, &mut frame);
    frame
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
    let mut head = conn.take(2).await;
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let length_bytes = match head[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    head.extend(conn.take(length_bytes).await);
    let head = frame_head(&head).expect("a whole frame header");
    ServerFrame {
        first: head.first,
        payload: conn.take(head.payload_len as usize).await,
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
        while let Some(head) = frame_head(&conn.buf) {
            let (payload_at, len) = (head.len, head.payload_len as usize);
            if conn.buf.len() < payload_at + len {
                break;
            }
            let frame: Vec<u8> = conn.buf.drain(..payload_at + len).collect();
            match head.opcode() {
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
