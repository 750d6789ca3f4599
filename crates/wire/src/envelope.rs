//! The envelope: `<seq:016x> <sent_ns:016x> <payload>`, printable ASCII throughout.
//!
//! Both numbers are fixed-width lowercase hex so a receiver reads them at fixed offsets
//! without scanning, and so every message of a run has the same size.

use crate::WireError;
use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of envelope before the payload: two 16-digit hex fields, each followed by a space.
pub const HEADER_LEN: usize = 34;
/// Bytes of a publish body before the payload: the 16-digit send time and a space.
pub const PUBLISH_HEADER_LEN: usize = 17;

/// The fixed fields of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Position of the message in its topic, from 1, assigned by the server.
    pub seq: u64,
    /// Scheduled publish time on the shared monotonic clock, in nanoseconds.
    pub sent_ns: u64,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn put_hex(v: u64, out: &mut BytesMut) {
    let mut digits = [0u8; 16];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out.put_slice(&digits);
}

fn read_hex(field: &[u8], name: &'static str) -> Result<u64, WireError> {
    read_hex_digits(field).ok_or(WireError::BadField(name))
}

/// The value of up to 16 lowercase hex digits; `None` if any byte is not one.
pub(crate) fn read_hex_digits(field: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in field {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Appends a whole message: `seq` and `sent_ns` as 16 hex digits each, then the payload.
pub fn encode_message(seq: u64, sent_ns: u64, payload: &[u8], out: &mut BytesMut) {
    out.reserve(HEADER_LEN + payload.len());
    put_hex(seq, out);
    out.put_u8(b' ');
    put_hex(sent_ns, out);
    out.put_u8(b' ');
    out.put_slice(payload);
}

/// Appends a publish body (what a client sends to `/publish` or in a WebSocket frame): the
/// message without its sequence number, which only the server can assign.
pub fn encode_publish(sent_ns: u64, payload: &[u8], out: &mut BytesMut) {
    out.reserve(PUBLISH_HEADER_LEN + payload.len());
    put_hex(sent_ns, out);
    out.put_u8(b' ');
    out.put_slice(payload);
}

/// Reads the sequence number and send time of a message.
pub fn parse_header(msg: &[u8]) -> Result<Header, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Short(msg.len()));
    }
    if msg[16] != b' ' {
        return Err(WireError::BadSeparator("seq"));
    }
    if msg[33] != b' ' {
        return Err(WireError::BadSeparator("sent_ns"));
    }
    Ok(Header {
        seq: read_hex(&msg[..16], "seq")?,
        sent_ns: read_hex(&msg[17..33], "sent_ns")?,
    })
}

/// Checks a publish body and returns its send time; the server then prepends the sequence.
pub fn parse_publish(body: &[u8]) -> Result<u64, WireError> {
    if body.len() < PUBLISH_HEADER_LEN {
        return Err(WireError::Short(body.len()));
    }
    if body[16] != b' ' {
        return Err(WireError::BadSeparator("sent_ns"));
    }
    if !body.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(WireError::BadField("payload"));
    }
    read_hex(&body[..16], "sent_ns")
}

/// A payload of `len` printable ASCII bytes, made once and shared by every message of a run.
pub fn filler_payload(len: usize) -> Bytes {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Bytes::from_iter((0..len).map(|i| ALPHABET[i % ALPHABET.len()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_fixed_layout() {
        let mut out = BytesMut::new();
        encode_message(0x2a, 0x0123_4567_89ab_cdef, b"hi", &mut out);
        assert_eq!(&out[..], b"000000000000002a 0123456789abcdef hi");
        assert_eq!(out.len(), HEADER_LEN + 2);
        let h = parse_header(&out).unwrap();
        assert_eq!(
            h,
            Header {
                seq: 42,
                sent_ns: 0x0123_4567_89ab_cdef
            }
        );
    }

    #[test]
    fn publish_body_plus_seq_is_a_message() {
        let mut body = BytesMut::new();
        encode_publish(u64::MAX, b"xyz", &mut body);
        assert_eq!(parse_publish(&body), Ok(u64::MAX));
        let mut msg = BytesMut::new();
        encode_message(9, u64::MAX, b"xyz", &mut msg);
        assert_eq!(&msg[17..], &body[..]);
    }

    #[test]
    fn rejects_uppercase_short_and_misplaced_separators() {
        assert_eq!(parse_header(b"short"), Err(WireError::Short(5)));
        let upper = b"000000000000002A 0123456789abcdef ";
        assert_eq!(parse_header(upper), Err(WireError::BadField("seq")));
        let nosep = b"000000000000002a_0123456789abcdef ";
        assert_eq!(parse_header(nosep), Err(WireError::BadSeparator("seq")));
        assert!(parse_publish(b"0123456789abcdef \x01").is_err());
    }

    #[test]
    fn filler_is_printable_and_sized() {
        let p = filler_payload(100);
        assert_eq!(p.len(), 100);
        assert!(p.iter().all(|b| b.is_ascii_alphanumeric()));
    }
}
