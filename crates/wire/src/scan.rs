//! Finding envelopes in whatever a server wraps them in, by scanning for them (as tcpkali
//! finds its markers), so that a server pushbench did not write can frame, quote and batch
//! messages its own way: a raw body, an SSE `data:` line, a JSON string, a form field, a
//! WebSocket frame, several messages in one body.
//!
//! An envelope is recognised by its whole shape, not by a prefix: 16 lowercase hex digits, a
//! separator, 16 lowercase hex digits, the same separator, then exactly the run's payload.
//! pushbench's own protocol separates with a space; messages the load generator publishes
//! to a target (`encode_marked`) separate with `_`, since a space does not survive form
//! encoding (`+`, `%20`). Hex digits, `_` and the payload's letters and digits are left as
//! they are by JSON string escaping, SSE, URL and form encoding. Requiring the exact payload
//! makes a false match in a server's own bytes (ids, timestamps, hashes) practically
//! impossible, and a mangled message is not counted as delivered.
//!
//! Hand-written rather than a regex: it runs once per received byte on the hot path, must
//! allocate nothing, and tells the caller exactly which bytes it may drop.

use crate::envelope::{HEADER_LEN, Header, put_hex, read_hex_digits};
use bytes::{BufMut, BytesMut};

/// The separator of the marked envelope the load generator publishes to a target.
pub const MARKED_SEPARATOR: u8 = b'_';

/// The separators an envelope may use: pushbench's own (a space) and the marked one.
const SEPARATORS: (u8, u8) = (b' ', MARKED_SEPARATOR);

/// Appends a marked envelope: `<seq:016x>_<sent_ns:016x>_<payload>`, as long as a message
/// of pushbench's own protocol (`HEADER_LEN + payload.len()` bytes).
pub fn encode_marked(seq: u64, sent_ns: u64, payload: &[u8], out: &mut BytesMut) {
    out.reserve(HEADER_LEN + payload.len());
    put_hex(seq, out);
    out.put_u8(MARKED_SEPARATOR);
    put_hex(sent_ns, out);
    out.put_u8(MARKED_SEPARATOR);
    out.put_slice(payload);
}

/// Calls `found` for every whole envelope carrying `payload` in `buf`, in order, and
/// returns how many leading bytes of `buf` can be dropped: everything up to the end of the
/// last envelope found, or up to where an envelope cut off by the end of `buf` could begin.
/// A caller that keeps the rest and appends what arrives next finds every envelope exactly
/// once, however the bytes were split.
pub fn scan(buf: &[u8], payload: &[u8], mut found: impl FnMut(Header)) -> usize {
    let len = HEADER_LEN + payload.len();
    let mut consumed = 0;
    // Where to look for the first separator of the next candidate: 16 hex digits after its
    // start. A candidate must fit whole; a later one may still be cut off.
    let mut from = 16;
    let last_separator = match buf.len().checked_sub(len) {
        Some(last_start) => last_start + 16,
        None => return 0,
    };
    while from <= last_separator {
        let window = &buf[from..=last_separator];
        let Some(at) = memchr::memchr2(SEPARATORS.0, SEPARATORS.1, window) else {
            break;
        };
        let start = from + at - 16;
        match envelope_at(&buf[start..start + len], payload) {
            Some(h) => {
                found(h);
                consumed = start + len;
                from = consumed + 16;
            }
            None => from += at + 1,
        }
    }
    consumed.max(buf.len() + 1 - len)
}

/// The envelope `bytes` holds, if it is one with this payload.
fn envelope_at(bytes: &[u8], payload: &[u8]) -> Option<Header> {
    let sep = bytes[16];
    if bytes[33] != sep || bytes[HEADER_LEN..] != *payload {
        return None;
    }
    Some(Header {
        seq: read_hex_digits(&bytes[..16])?,
        sent_ns: read_hex_digits(&bytes[17..33])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(seq: u64, sent: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_marked(seq, sent, payload, &mut out);
        out.to_vec()
    }

    fn all(buf: &[u8], payload: &[u8]) -> (Vec<u64>, usize) {
        let mut seqs = Vec::new();
        let keep = scan(buf, payload, |h| seqs.push(h.seq));
        (seqs, keep)
    }

    #[test]
    fn a_marked_envelope_is_as_long_as_a_message() {
        let m = marked(0x2a, 0x0123_4567_89ab_cdef, b"hi");
        assert_eq!(m, b"000000000000002a_0123456789abcdef_hi");
        assert_eq!(m.len(), HEADER_LEN + 2);
    }

    #[test]
    fn found_inside_every_framing() {
        let p = b"abc";
        let m = String::from_utf8(marked(7, 9, p)).unwrap();
        for body in [
            m.clone(),
            format!("id: 1796145673:0\ndata: {m}\n\n"),
            format!("{{\"id\":\"x\",\"data\":\"{m}\"}}"),
            format!("topic=t&data={m}&id=1"),
            "0000000000000001 0000000000000002 abc".to_string(),
        ] {
            let (seqs, _) = all(body.as_bytes(), p);
            assert_eq!(seqs.len(), 1, "{body}");
        }
    }

    #[test]
    fn several_in_one_body_in_order() {
        let p = b"xyz";
        let mut body = marked(1, 5, p);
        body.push(b'\n');
        body.extend(marked(2, 6, p));
        body.extend(b"\r\n--boundary\r\n");
        body.extend(marked(3, 7, p));
        let (seqs, keep) = all(&body, p);
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(keep, body.len());
    }

    #[test]
    fn the_wrong_payload_mixed_separators_or_uppercase_are_not_envelopes() {
        let p = b"abc";
        for bad in [
            &b"0000000000000001_0000000000000002_abd"[..],
            b"0000000000000001 0000000000000002_abc",
            b"000000000000000A_0000000000000002_abc",
            b"0000000000000001-0000000000000002-abc",
        ] {
            assert_eq!(all(bad, p).0, Vec::<u64>::new(), "{bad:?}");
        }
    }

    #[test]
    fn every_split_finds_every_envelope_once() {
        let p = b"payload";
        let mut wire = b"data: ".to_vec();
        for seq in 1..=3 {
            wire.extend(marked(seq, seq * 10, p));
            wire.extend(b"\n\ndata: ");
        }
        for split in 0..wire.len() {
            let mut buf = wire[..split].to_vec();
            let mut seqs = Vec::new();
            let keep = scan(&buf, p, |h| seqs.push(h.seq));
            buf.drain(..keep);
            buf.extend_from_slice(&wire[split..]);
            scan(&buf, p, |h| seqs.push(h.seq));
            assert_eq!(seqs, [1, 2, 3], "split at {split}");
        }
    }

    #[test]
    fn keeps_exactly_what_could_begin_a_cut_off_envelope() {
        let p = b"ab";
        // 36-byte envelopes: of 10 bytes without one, all may be the start of one.
        assert_eq!(all(b"0123456789", p).1, 0);
        // Of 50 bytes without one, the last 35 may be.
        assert_eq!(all(&[b'x'; 50], p).1, 50 - 35);
    }
}
