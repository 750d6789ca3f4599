//! WebSocket frames (RFC 6455 §5.2) as pushbench writes and reads them by hand: the load
//! generator's client and the tests' raw client share this codec; the server uses
//! fastwebsockets and only [`frame_bytes`] to count what it sent.
//!
//! A frame is a first byte (FIN, three reserved bits, the opcode), a second byte (the MASK
//! bit and a 7-bit length, 126 or 127 announcing a 16- or 64-bit length after it), the
//! 4-byte masking key when masked, and the payload (XORed with the key when masked).

use crate::WireError;
use std::ops::Range;

/// A continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// A text frame: pushbench's messages and publish bodies.
pub const OP_TEXT: u8 = 0x1;
/// A binary frame.
pub const OP_BINARY: u8 = 0x2;
/// A close frame.
pub const OP_CLOSE: u8 = 0x8;
/// A ping.
pub const OP_PING: u8 = 0x9;
/// A pong.
pub const OP_PONG: u8 = 0xA;

/// The largest server frame a client accepts: far beyond any message a workload allows, so
/// only a broken length field reaches it.
const MAX_FRAME: u64 = 64 << 20;

/// Bytes of the header of a frame with `payload` bytes: 2, 4 from 126 bytes, 10 from
/// 65,536, and 4 more when masked.
pub fn header_len(payload: usize, masked: bool) -> usize {
    let length = match payload {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    length + if masked { 4 } else { 0 }
}

/// Bytes on the wire of a frame with `payload` bytes.
pub fn frame_bytes(payload: usize, masked: bool) -> u64 {
    (header_len(payload, masked) + payload) as u64
}

/// Appends a frame: FIN as given, no reserved bits, the minimal length form, and, with a
/// `mask`, the MASK bit, the key and the masked payload (RFC 6455 §5.2, §5.3).
pub fn encode_frame(
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    out.reserve(header_len(payload.len(), mask.is_some()) + payload.len());
    out.push((u8::from(fin) << 7) | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=65_535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Appends a final, masked client frame with the masking key `mask`.
pub fn encode_client_frame(opcode: u8, payload: &[u8], mask: u32, out: &mut Vec<u8>) {
    encode_frame(true, opcode, Some(mask.to_be_bytes()), payload, out);
}

/// A frame's header, read from the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// The first byte: FIN, the reserved bits and the opcode.
    pub first: u8,
    /// Whether the MASK bit is set.
    pub masked: bool,
    /// Bytes of the header, the masking key included.
    pub len: usize,
    /// Bytes of the payload.
    pub payload_len: u64,
}

impl FrameHead {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// Whether this is the final frame of its message.
    pub fn fin(&self) -> bool {
        self.first & 0x80 != 0
    }
}

/// Reads the header of the frame at the start of `buf`; `None` until it is all there.
pub fn frame_head(buf: &[u8]) -> Option<FrameHead> {
    let (&first, &second) = (buf.first()?, buf.get(1)?);
    let masked = second & 0x80 != 0;
    let (length, payload_len) = match second & 0x7f {
        126 => (
            4,
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
        ),
        127 => (10, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        n => (2, u64::from(n)),
    };
    let len = length + if masked { 4 } else { 0 };
    (buf.len() >= len).then_some(FrameHead {
        first,
        masked,
        len,
        payload_len,
    })
}

/// One server frame found by [`next_frame`].
pub struct Frame {
    /// The opcode (RFC 6455 §5.2).
    pub opcode: u8,
    /// Bytes of the whole frame, header included.
    pub len: usize,
    /// Where the payload lies in the buffer given to [`next_frame`].
    pub payload: Range<usize>,
}

/// Parses one server frame at the start of `buf`; `None` until it is complete. pushbench's
/// server sends every message as one unmasked final frame, so anything else is an error.
pub fn next_frame(buf: &[u8]) -> Result<Option<Frame>, WireError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(WireError::Frame("WebSocket frame with RSV bits set"));
    }
    if b0 & 0x80 == 0 || b0 & 0x0f == OP_CONTINUATION {
        return Err(WireError::Frame(
            "fragmented WebSocket message (pushbench sends one frame per message)",
        ));
    }
    if b1 & 0x80 != 0 {
        return Err(WireError::Frame(
            "masked frame from the server (RFC 6455 §5.1)",
        ));
    }
    let Some(head) = frame_head(buf) else {
        return Ok(None);
    };
    if head.payload_len > MAX_FRAME {
        return Err(WireError::FrameTooLarge(head.payload_len));
    }
    let end = head.len + head.payload_len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Frame {
        opcode: head.opcode(),
        len: end,
        payload: head.len..end,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_of_each_length_form() {
        // RFC 6455 §5.7: a single-frame unmasked text message containing "Hello".
        let f = next_frame(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'])
            .unwrap()
            .unwrap();
        assert_eq!((f.opcode, f.len, f.payload), (1, 7, 2..7));
        let mut big = vec![0x82, 126, 0x01, 0x00];
        big.extend(std::iter::repeat_n(0u8, 256));
        assert_eq!(next_frame(&big).unwrap().unwrap().len, 260);
        assert!(next_frame(&big[..100]).unwrap().is_none());
        assert!(next_frame(&[0x01, 0x01, b'x']).is_err(), "fragment");
        assert!(
            next_frame(&[0x81, 0x81, 0, 0, 0, 0, b'x']).is_err(),
            "masked"
        );
    }

    #[test]
    fn client_frame_matches_rfc_example() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let mut out = Vec::new();
        encode_client_frame(OP_TEXT, b"Hello", 0x37fa213d, &mut out);
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn frame_sizes_follow_rfc6455() {
        assert_eq!(frame_bytes(125, false), 127);
        assert_eq!(frame_bytes(126, false), 130);
        assert_eq!(frame_bytes(65_535, false), 65_539);
        assert_eq!(frame_bytes(65_536, false), 65_546);
        assert_eq!(frame_bytes(5, true), 11);
        for n in [0, 125, 126, 65_535, 65_536] {
            let mut out = Vec::new();
            encode_frame(false, OP_BINARY, Some([1, 2, 3, 4]), &vec![7; n], &mut out);
            assert_eq!(out.len() as u64, frame_bytes(n, true));
            let head = frame_head(&out).unwrap();
            assert_eq!(
                (head.fin(), head.opcode(), head.masked),
                (false, OP_BINARY, true)
            );
            assert_eq!(
                (head.len, head.payload_len),
                (header_len(n, true), n as u64)
            );
            assert_eq!(frame_head(&out[..head.len - 1]), None);
        }
    }
}
