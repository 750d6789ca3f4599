//! The raw stream (`/raw`): the floor every other transport is measured against. After an
//! HTTP/1.1 upgrade to [`UPGRADE`] the connection carries each message followed by a
//! newline ([`END`]) and nothing else: no length, no chunk, no frame, no end marker. A
//! message of `m` bytes costs [`frame_len`]`(m) = m + 1` bytes on the wire.
//!
//! A message is printable ASCII (`docs/protocol.md`), so a newline can only end one. The
//! same line is what a poll batch holds per message and what a stream chunk carries, so the
//! server encodes it once ([`encode`]) for all three.

use crate::{WireError, encode_message};
use bytes::{BufMut, BytesMut};

/// The protocol a raw stream's request names in `Upgrade` and its `101` confirms (RFC 9110
/// §7.8).
pub const UPGRADE: &str = "pushbench-raw";

/// The byte that ends every message of a raw stream.
pub const END: u8 = b'\n';

/// Bytes the raw stream adds to a message: its newline.
pub const OVERHEAD: usize = 1;

/// Bytes on the wire of a message of `message` bytes.
pub const fn frame_len(message: usize) -> usize {
    message + OVERHEAD
}

/// Appends one message as the raw stream sends it: the envelope, then [`END`].
pub fn encode(seq: u64, sent_ns: u64, payload: &[u8], out: &mut BytesMut) {
    out.reserve(frame_len(crate::HEADER_LEN + payload.len()));
    encode_message(seq, sent_ns, payload, out);
    out.put_u8(END);
}

/// Finds the messages in a raw stream's bytes as they arrive. It remembers how far the
/// buffer is known to hold no [`END`], so a message that arrives in pieces is searched once.
#[derive(Debug, Clone)]
pub struct Lines {
    searched: usize,
    max_message: usize,
}

impl Lines {
    /// A reader of messages of at most `max_message` bytes: a longer run of bytes without a
    /// newline is no message.
    pub fn new(max_message: usize) -> Lines {
        Lines {
            searched: 0,
            max_message,
        }
    }

    /// The length of the whole message at the start of `buf` (`buf[..n]`, its newline at
    /// `buf[n]`), or `None` while `buf` holds only part of one. After `Some(n)` the caller
    /// consumes `n + 1` bytes from the front of `buf` before calling again; after `None` it
    /// appends to `buf` and calls again.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, WireError> {
        let from = self.searched.min(buf.len());
        match buf[from..].iter().position(|&b| b == END) {
            Some(i) => {
                self.searched = 0;
                Ok(Some(from + i))
            }
            None if buf.len() > self.max_message => Err(WireError::LineTooLong(buf.len())),
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_costs_itself_and_one_newline() {
        // A 34-byte envelope (two 16-digit fields and their spaces) and a 5-byte payload.
        let mut out = BytesMut::new();
        encode(0x2a, 0x0123_4567_89ab_cdef, b"hello", &mut out);
        assert_eq!(&out[..], b"000000000000002a 0123456789abcdef hello\n");
        assert_eq!(out.len(), 34 + 5 + 1);
        assert_eq!(frame_len(34 + 5), 40);
    }

    #[test]
    fn lines_are_found_however_the_bytes_arrive() {
        let mut lines = Lines::new(8);
        let mut buf = b"ab".to_vec();
        assert_eq!(lines.next(&buf), Ok(None));
        buf.extend_from_slice(b"c\nd");
        assert_eq!(lines.next(&buf), Ok(Some(3)));
        buf.drain(..4);
        assert_eq!(lines.next(&buf), Ok(None));
        buf.extend_from_slice(b"\n");
        assert_eq!(lines.next(&buf), Ok(Some(1)));
    }

    #[test]
    fn a_run_longer_than_any_message_is_refused() {
        let mut lines = Lines::new(4);
        assert_eq!(lines.next(b"abcd"), Ok(None));
        assert_eq!(lines.next(b"abcde"), Err(WireError::LineTooLong(5)));
        // A whole line of the longest length is fine.
        assert_eq!(Lines::new(4).next(b"abcd\n"), Ok(Some(4)));
    }
}
