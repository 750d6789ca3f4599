//! A raw HTTP/1.1 client for tests that check the server's exact bytes: requests are
//! written by hand and answers read byte for byte, with every wait bounded by [`WAIT`].

use crate::WAIT;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A whole fixed-length answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw client connection with a read buffer.
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read and not yet taken.
    pub buf: Vec<u8>,
}

impl Conn {
    /// Wraps a connected socket.
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes a request with a `Host` header, the given headers and, for POST, a length.
    pub async fn send_request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.write(&bytes).await;
    }

    /// Writes raw bytes.
    pub async fn write(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// Reads more bytes into the buffer; panics on EOF or after `WAIT`.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("server answered in time")
            .expect("read");
        assert!(
            n > 0,
            "unexpected EOF; have {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Reads until at least `n` bytes are buffered.
    pub async fn fill_to(&mut self, n: usize) {
        while self.buf.len() < n {
            self.fill().await;
        }
    }

    /// Takes exactly `n` bytes off the front of the buffer.
    pub async fn take(&mut self, n: usize) -> Vec<u8> {
        self.fill_to(n).await;
        self.buf.drain(..n).collect()
    }

    /// Reads until `needle` is buffered and returns everything up to and including it.
    pub async fn take_through(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(pos) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return self.buf.drain(..pos + needle.len()).collect();
            }
            self.fill().await;
        }
    }

    /// True when nothing arrives within `d` (the server is still holding the answer).
    pub async fn quiet_for(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(d, self.stream.read(&mut chunk)).await {
            Err(_) => true,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Ok(Err(_)) => false,
        }
    }

    /// Waits for the server to close the connection, discarding what comes before.
    pub async fn expect_eof(&mut self) {
        let mut chunk = [0u8; 1024];
        loop {
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("server closes in time")
                .unwrap_or(0);
            if n == 0 {
                return;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Asks for the raw stream at `target` (`/raw?topic=…`) with the upgrade fields
    /// `docs/protocol.md` names, reads the `101` and returns its head as it arrived.
    pub async fn upgrade_raw(&mut self, target: &str) -> String {
        let fields = [("Connection", "Upgrade"), ("Upgrade", "pushbench-raw")];
        self.send_request("GET", target, &fields, b"").await;
        let head = String::from_utf8(self.take_through(b"\r\n\r\n").await).expect("ASCII head");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        head
    }

    /// Reads a status line and headers.
    pub async fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let head = self.take_through(b"\r\n\r\n").await;
        let head = String::from_utf8(head).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        (status, headers)
    }

    /// Reads a whole answer whose body has a `Content-Length` (or none at all).
    pub async fn read_response(&mut self) -> Response {
        let (status, headers) = self.read_head().await;
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        assert_eq!(
            resp.header("transfer-encoding"),
            None,
            "expected a fixed-length body"
        );
        let len = resp
            .header("content-length")
            .map_or(0, |v| v.parse::<usize>().expect("numeric content-length"));
        resp.body = self.take(len).await;
        resp
    }

    /// Reads one HTTP chunk and returns (size field as sent, data).
    pub async fn read_chunk(&mut self) -> (String, Vec<u8>) {
        let size_line = self.take_through(b"\r\n").await;
        let size_field = String::from_utf8(size_line[..size_line.len() - 2].to_vec()).unwrap();
        let size = usize::from_str_radix(&size_field, 16).expect("hex chunk size");
        let data = self.take(size + 2).await;
        assert_eq!(&data[size..], b"\r\n", "chunk data is followed by CRLF");
        (size_field, data[..size].to_vec())
    }
}

/// A publish body: `sent_ns` as 16 hex digits, a space, the payload.
pub fn publish_body(sent_ns: u64, payload: &str) -> Vec<u8> {
    format!("{sent_ns:016x} {payload}").into_bytes()
}

/// The message the server makes of a publish body: `<seq as 16 hex> ` + body.
pub fn message(seq: u64, sent_ns: u64, payload: &str) -> Vec<u8> {
    format!("{seq:016x} {sent_ns:016x} {payload}").into_bytes()
}
