//! The offset of this machine's clock to the server's, estimated at the start of every phase
//! (`pushbench_model::clock`, Cristian's method): a few `GET /clock` requests on one kept-alive
//! connection, each timed on the local clock, and the one of the smallest round trip kept.
//!
//! The exchanges run on a blocking socket of a thread of their own rather than on the async
//! runtime: a task woken by the runtime reads its clock some microseconds after the bytes
//! arrived, and that delay would widen every round trip, and so the error bound.

use crate::error::{ClientError, LoadgenError};
use crate::http::parse_head;
use pushbench_model::clock::{Estimate, Exchange};
use pushbench_model::protocol::CLOCK_PATH;
use pushbench_wire::now_ns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Exchanges per estimate: enough that one of them is likely to have met neither a busy
/// server nor a descheduled thread; each costs one round trip (well under a millisecond on
/// loopback or in a data centre).
pub const EXCHANGES: u32 = 16;

/// The request line of [`CLOCK_PATH`], for errors.
const REQUEST: &str = "GET /clock";

/// What an estimate found, and the bytes its connection carried both ways (counted with the
/// control traffic).
#[derive(Debug, Clone, Copy)]
pub struct Estimated {
    /// The estimate.
    pub estimate: Estimate,
    /// Bytes written and read.
    pub bytes: u64,
}

/// Estimates the offset of the server at `addr`: up to `exchanges` exchanges, fewer when
/// `deadline` (on the local monotonic clock) passes first, but at least one. `None`: the
/// server answered `404`, it has no `/clock` (a build older than it, e.g. the base of a
/// paired comparison).
pub async fn estimate(
    addr: SocketAddr,
    exchanges: u32,
    deadline: Option<u64>,
) -> Result<Option<Estimated>, LoadgenError> {
    tokio::task::spawn_blocking(move || estimate_blocking(addr, exchanges, deadline))
        .await
        .map_err(|e| LoadgenError::Worker(format!("the clock estimate's thread failed: {e}")))?
        .map_err(|source| LoadgenError::Control {
            addr,
            request: REQUEST,
            source,
        })
}

fn estimate_blocking(
    addr: SocketAddr,
    exchanges: u32,
    deadline: Option<u64>,
) -> Result<Option<Estimated>, ClientError> {
    let mut s = TcpStream::connect_timeout(&addr, crate::control::CONTROL_TIMEOUT)
        .map_err(ClientError::Connect)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(crate::control::CONTROL_TIMEOUT))?;
    let request = format!("GET {CLOCK_PATH} HTTP/1.1\r\nhost: {addr}\r\n\r\n").into_bytes();
    let mut buf = Vec::with_capacity(512);
    let mut found = Vec::with_capacity(exchanges as usize);
    let mut bytes = 0;
    for _ in 0..exchanges.max(1) {
        buf.clear();
        let t0 = now_ns();
        s.write_all(&request)?;
        let Some((server, t1)) = read_answer(&mut s, &mut buf)? else {
            return Ok(None);
        };
        bytes += (request.len() + buf.len()) as u64;
        found.push(Exchange { t0, server, t1 });
        if deadline.is_some_and(|d| now_ns() >= d) {
            break;
        }
    }
    let estimate = Estimate::of(&found).expect("at least one exchange");
    Ok(Some(Estimated { estimate, bytes }))
}

/// Reads one answer to `GET /clock` into `buf`: the server's reading and the local clock
/// once its last byte was read; `None` for a `404`.
fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<(u64, u64)>, ClientError> {
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk)?;
        let t1 = now_ns();
        if n == 0 {
            return Err(ClientError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(head) = parse_head(buf)? else {
            continue;
        };
        let Some(len) = head.content_length else {
            return Err(ClientError::Protocol(
                "the answer to GET /clock has no content-length".into(),
            ));
        };
        if buf.len() < head.len + len {
            continue;
        }
        if head.status == 404 {
            return Ok(None);
        }
        if head.status != 200 {
            return Err(ClientError::Protocol(format!(
                "GET /clock answered {}, where 200 and the server's clock were expected",
                head.status
            )));
        }
        return parse_reading(&buf[head.len..head.len + len]).map(|server| Some((server, t1)));
    }
}

/// The body of `GET /clock`: 16 hex digits and a newline (`docs/protocol.md`).
fn parse_reading(body: &[u8]) -> Result<u64, ClientError> {
    let bad = || {
        ClientError::Protocol(format!(
            "GET /clock: expected 16 hex digits and a newline, found {:?}",
            String::from_utf8_lossy(body)
        ))
    };
    let digits = body.strip_suffix(b"\n").ok_or_else(bad)?;
    if digits.len() != 16 {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_sixteen_hex_digits_and_a_newline() {
        assert_eq!(
            parse_reading(b"000016dcd9790bab\n").unwrap(),
            0x16dc_d979_0bab
        );
        for bad in [
            &b"000016dcd9790bab"[..],
            b"16dcd9790bab\n",
            b"000016dcd9790bax\n",
            b"",
        ] {
            assert!(parse_reading(bad).is_err(), "{bad:?}");
        }
    }
}
