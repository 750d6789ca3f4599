//! The message format both sides of pushbench agree on, and the clock they share.
//!
//! This crate owns the envelope (sequence number, scheduled publish time, payload), how a
//! message is framed inside each transport's body (poll batches, chunks, SSE events, the
//! WebSocket frames a client writes and reads, the raw stream's lines), and
//! `now_ns`, the system-wide monotonic clock used for every timestamp, plus the process's own
//! CPU and memory readings. It does no network I/O and knows nothing about sockets, HTTP or
//! histograms; `docs/protocol.md` is its prose twin.
#![warn(missing_docs)]

pub mod clock;
mod envelope;
pub mod headers;
pub mod process;
pub mod raw;
pub mod scan;
pub mod sse;
pub mod ws;

pub use clock::now_ns;
pub use envelope::{
    HEADER_LEN, Header, PUBLISH_HEADER_LEN, encode_message, encode_publish, filler_payload,
    parse_header, parse_publish,
};

use thiserror::Error;

/// Why a piece of server output could not be understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The message is shorter than the fixed envelope header.
    #[error("message of {0} bytes is shorter than the {HEADER_LEN}-byte envelope header")]
    Short(usize),
    /// A fixed-width hexadecimal field holds something other than lowercase hex digits.
    #[error("envelope field `{0}` is not 16 lowercase hexadecimal digits")]
    BadField(&'static str),
    /// A separator byte is not where the format puts it.
    #[error("envelope separator missing after `{0}`")]
    BadSeparator(&'static str),
    /// A poll or long-poll body does not start with a decimal cursor line.
    #[error("batch body does not start with a decimal cursor line")]
    BadCursor,
    /// An SSE event is missing a field pushbench always sends.
    #[error("SSE event has no `{0}` field")]
    MissingSseField(&'static str),
    /// A WebSocket frame pushbench's server never sends.
    #[error("{0}")]
    Frame(&'static str),
    /// A WebSocket frame longer than any message could be.
    #[error("WebSocket frame of {0} bytes")]
    FrameTooLarge(u64),
    /// A raw stream's bytes without a newline for longer than any message could be.
    #[error("{0} bytes without a newline: longer than any message")]
    LineTooLong(usize),
}

/// Appends one poll or long-poll answer: the new cursor as a decimal line, then each message
/// on a line of its own. Messages are printable ASCII, so a newline never occurs inside one.
pub fn encode_batch_head(cursor: u64, out: &mut bytes::BytesMut) {
    use std::fmt::Write;
    writeln!(out, "{cursor}").expect("writing to BytesMut cannot fail");
}

/// Splits a poll or long-poll answer into its cursor and an iterator over its messages.
pub fn parse_batch(body: &[u8]) -> Result<(u64, impl Iterator<Item = &[u8]>), WireError> {
    let nl = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(WireError::BadCursor)?;
    let cursor = parse_decimal(&body[..nl]).ok_or(WireError::BadCursor)?;
    let rest = &body[nl + 1..];
    let lines = rest.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    Ok((cursor, lines))
}

/// Parses an unsigned decimal number with no sign, spaces or leading `+`.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip() {
        let mut out = bytes::BytesMut::new();
        encode_batch_head(42, &mut out);
        out.extend_from_slice(b"first\nsecond\n");
        let (cursor, lines) = parse_batch(&out).unwrap();
        assert_eq!(cursor, 42);
        assert_eq!(
            lines.collect::<Vec<_>>(),
            vec![&b"first"[..], &b"second"[..]]
        );
    }

    #[test]
    fn empty_batch_is_just_the_cursor() {
        let (cursor, lines) = parse_batch(b"7\n").unwrap();
        assert_eq!(cursor, 7);
        assert_eq!(lines.count(), 0);
    }

    #[test]
    fn batch_without_cursor_is_rejected() {
        assert_eq!(parse_batch(b"x\n").err(), Some(WireError::BadCursor));
        assert_eq!(parse_batch(b"12").err(), Some(WireError::BadCursor));
    }

    #[test]
    fn decimal_rejects_overflow_and_signs() {
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b""), None);
    }
}
