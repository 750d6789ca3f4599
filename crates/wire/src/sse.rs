//! Server-Sent Events as pushbench uses them: one event per message,
//! `id: <seq in decimal>\ndata: <message>\n\n`, plus a `:\n\n` comment as heartbeat.
//!
//! The parser follows the WHATWG event-stream rules for what pushbench needs (LF or CRLF
//! line ends, comments, the optional space after the colon) so it also reads other servers.

use crate::{WireError, parse_decimal};
use bytes::{BufMut, BytesMut};

/// The heartbeat comment: an event with no fields, which receivers ignore.
pub const HEARTBEAT: &[u8] = b":\n\n";

/// Appends the event that carries one message.
pub fn encode_event(seq: u64, message: &[u8], out: &mut BytesMut) {
    use std::fmt::Write;
    out.reserve(message.len() + 32);
    write!(out, "id: {seq}\ndata: ").expect("writing to BytesMut cannot fail");
    out.put_slice(message);
    out.put_slice(b"\n\n");
}

/// One parsed event; `data` is `None` for a block of comments only (a heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `id` field, when present.
    pub id: Option<u64>,
    /// The single `data` line, when present.
    pub data: Option<&'a [u8]>,
}

/// Finds the next complete event at the start of `buf`. Returns the number of bytes it
/// takes up and the event, or `None` when the buffer does not yet hold a whole event.
pub fn next_event(buf: &[u8]) -> Result<Option<(usize, Event<'_>)>, WireError> {
    let mut pos = 0;
    let mut event = Event {
        id: None,
        data: None,
    };
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let mut line = &buf[pos..pos + nl];
        pos += nl + 1;
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.is_empty() {
            return Ok(Some((pos, event)));
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => event.data = Some(value),
            b"id" => event.id = Some(parse_decimal(value).ok_or(WireError::MissingSseField("id"))?),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_bytes() {
        let mut out = BytesMut::new();
        encode_event(12, b"msg", &mut out);
        assert_eq!(&out[..], b"id: 12\ndata: msg\n\n");
    }

    #[test]
    fn parses_events_heartbeats_and_partial_input() {
        let stream = b"id: 3\ndata: abc\n\n:\n\nid: 4\r\ndata:def\r\n\r\nid: 5\nda";
        let (n1, e1) = next_event(stream).unwrap().unwrap();
        assert_eq!(
            e1,
            Event {
                id: Some(3),
                data: Some(b"abc")
            }
        );
        let (n2, e2) = next_event(&stream[n1..]).unwrap().unwrap();
        assert_eq!(
            e2,
            Event {
                id: None,
                data: None
            }
        );
        let (n3, e3) = next_event(&stream[n1 + n2..]).unwrap().unwrap();
        assert_eq!(
            e3,
            Event {
                id: Some(4),
                data: Some(b"def")
            }
        );
        assert_eq!(next_event(&stream[n1 + n2 + n3..]).unwrap(), None);
    }

    #[test]
    fn bad_id_is_an_error() {
        assert!(next_event(b"id: x\ndata: a\n\n").is_err());
    }
}
