//! The HTTP/1.1 a pushbench client needs: response heads, fixed-length bodies and chunked
//! bodies, parsed in place from a connection's buffer. Requests are written by the callers
//! from pre-encoded parts.

use crate::conn::Conn;
use crate::error::ClientError;
use bytes::{Buf, BytesMut};

/// The parts of a response head a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// Bytes of the head, status line to the blank line included.
    pub len: usize,
    /// The `Content-Length`, when given.
    pub content_length: Option<usize>,
    /// Whether the body is chunked.
    pub chunked: bool,
}

/// Room for every field a workload's `response_headers` may add beside an endpoint's own
/// (at most five, in a WebSocket 101 or an SSE head).
const MAX_HEADERS: usize = pushbench_wire::headers::MAX_FIELDS + 16;

/// Parses a response head at the start of `buf`; `None` until it is complete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, ClientError> {
    parse_head_with(buf, &[], &mut [])
}

/// Parses a response head as [`parse_head`] does, and finds the fields named in `wanted`
/// (case-insensitive): `found[i]` becomes the place of `wanted[i]`'s value in `buf`, or
/// `None` when the head has no such field. A target's polling client reads its place
/// (nchan's `Etag`) from there without copying the head.
pub fn parse_head_with(
    buf: &[u8],
    wanted: &[&str],
    found: &mut [Option<std::ops::Range<usize>>],
) -> Result<Option<Head>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > 64 * 1024 {
                return Err(ClientError::Protocol(
                    "response head larger than 64 KiB".into(),
                ));
            }
            return Ok(None);
        }
        Err(e) => return Err(ClientError::Protocol(format!("bad response head: {e}"))),
    };
    let mut head = Head {
        status: resp.code.unwrap_or(0),
        len,
        content_length: None,
        chunked: false,
    };
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
            head.content_length =
                Some(v.ok_or_else(|| ClientError::Protocol("bad Content-Length".into()))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = h.value.eq_ignore_ascii_case(b"chunked");
        }
    }
    for (name, place) in wanted.iter().zip(found.iter_mut()) {
        *place = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| {
                // httparse's values are slices of `buf`.
                let start = h.value.as_ptr() as usize - buf.as_ptr() as usize;
                start..start + h.value.len()
            });
    }
    Ok(Some(head))
}

/// Reads until a whole response head is in the buffer; returns it and the receive time of
/// its last byte. The head stays in the buffer.
pub(crate) async fn read_head(conn: &mut Conn) -> Result<(Head, u64), ClientError> {
    let mut t = pushbench_wire::now_ns();
    loop {
        if let Some(h) = parse_head(&conn.buf)? {
            return Ok((h, t));
        }
        t = conn.fill().await?;
    }
}

/// Reads a whole fixed-length response. Returns the head and the receive time; the body is
/// `conn.buf[head.len..head.len + content_length]` until the caller consumes it.
pub(crate) async fn read_response(conn: &mut Conn) -> Result<(Head, usize, u64), ClientError> {
    read_response_with(conn, &[], &mut []).await
}

/// [`read_response`], also finding the fields named in `wanted` as [`parse_head_with`]
/// does.
pub(crate) async fn read_response_with(
    conn: &mut Conn,
    wanted: &[&str],
    found: &mut [Option<std::ops::Range<usize>>],
) -> Result<(Head, usize, u64), ClientError> {
    let mut t = pushbench_wire::now_ns();
    let head = loop {
        if let Some(h) = parse_head_with(&conn.buf, wanted, found)? {
            break h;
        }
        t = conn.fill().await?;
    };
    let body_len = match (head.content_length, head.chunked) {
        // RFC 9112 §6.3: these never have a body, whatever Content-Length says.
        _ if head.status == 204 || head.status == 304 => 0,
        (Some(n), false) => n,
        _ => {
            return Err(ClientError::Protocol(
                "expected a response with Content-Length".into(),
            ));
        }
    };
    while conn.buf.len() < head.len + body_len {
        t = conn.fill().await?;
    }
    Ok((head, body_len, t))
}

/// Where a chunked body decoder stands between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Chunked {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes to go.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// The last chunk was seen: the body has ended.
    Done,
}

impl Chunked {
    /// Moves every complete piece of chunk data from `src` to `dst`, consuming the framing.
    /// Stops when `src` holds no more whole framing lines; partial data is moved as it comes.
    pub fn decode(&mut self, src: &mut BytesMut, dst: &mut BytesMut) -> Result<(), ClientError> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(nl) = src.iter().position(|&b| b == b'\n') else {
                        if src.len() > 1024 {
                            return Err(ClientError::Protocol("chunk-size line too long".into()));
                        }
                        return Ok(());
                    };
                    let line = src[..nl]
                        .strip_suffix(b"\r")
                        .ok_or_else(|| bad("chunk-size line not ended by CRLF"))?;
                    let hex = line.split(|&b| b == b';').next().unwrap_or(line);
                    let size =
                        parse_hex(hex).ok_or_else(|| bad("chunk size is not hexadecimal"))?;
                    src.advance(nl + 1);
                    *self = if size == 0 {
                        Chunked::Done
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if src.is_empty() {
                        return Ok(());
                    }
                    let n = left.min(src.len());
                    dst.extend_from_slice(&src[..n]);
                    src.advance(n);
                    *self = if n == left {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left - n)
                    };
                }
                Chunked::DataEnd => {
                    if src.len() < 2 {
                        return Ok(());
                    }
                    if &src[..2] != b"\r\n" {
                        return Err(bad("chunk data not followed by CRLF"));
                    }
                    src.advance(2);
                    *self = Chunked::Size;
                }
                Chunked::Done => return Ok(()),
            }
        }
    }
}

fn bad(what: &str) -> ClientError {
    ClientError::Protocol(what.to_string())
}

fn parse_hex(digits: &[u8]) -> Option<usize> {
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    let mut v = 0usize;
    for &c in digits {
        v = v * 16 + (c as char).to_digit(16)? as usize;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_may_carry_every_extra_field_a_workload_allows() {
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n".to_vec();
        for i in 0..pushbench_wire::headers::MAX_FIELDS {
            head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let h = parse_head(&head).unwrap().unwrap();
        assert_eq!((h.status, h.len), (101, head.len()));
    }

    #[test]
    fn head_with_length_and_chunked() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                len: 38,
                content_length: Some(5),
                chunked: false
            }
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.chunked);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap(), None);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_decoding_across_arbitrary_splits() {
        let wire = b"5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut state = Chunked::default();
            let mut src = BytesMut::new();
            let mut dst = BytesMut::new();
            src.extend_from_slice(&wire[..split]);
            state.decode(&mut src, &mut dst).unwrap();
            src.extend_from_slice(&wire[split..]);
            state.decode(&mut src, &mut dst).unwrap();
            assert_eq!(&dst[..], b"hello0123456789", "split at {split}");
            assert_eq!(state, Chunked::Done);
        }
    }

    #[test]
    fn chunked_rejects_bad_framing() {
        let mut src = BytesMut::from(&b"zz\r\n"[..]);
        assert!(
            Chunked::default()
                .decode(&mut src, &mut BytesMut::new())
                .is_err()
        );
        let mut src = BytesMut::from(&b"2\r\nabXY"[..]);
        assert!(
            Chunked::default()
                .decode(&mut src, &mut BytesMut::new())
                .is_err()
        );
    }
}
