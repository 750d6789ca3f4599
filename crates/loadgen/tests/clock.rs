//! The clock offset estimate (`GET /clock`, Cristian's method) against pushbench's server on
//! this host, whose clock is the load generator's (the true offset is 0), and against tiny
//! servers whose clock is shifted by a known amount. What is asserted follows from the
//! method alone: the server reads its clock between the request leaving (`t0`) and the
//! answer arriving (`t1`), so the estimate is within half the round trip of the truth.

use pushbench_loadgen::clock::{EXCHANGES, estimate};
use pushbench_testkit::TestServer;
use pushbench_wire::now_ns;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

// How small the bound comes out (half the smallest of 16 round trips: about 10 µs on an idle
// loopback, milliseconds when both cores are busy) is a measurement, in docs/distributed.md,
// not asserted here: what holds on any machine is Cristian's guarantee, that the true offset
// lies within the bound.

/// A server that answers every request of one kept-alive connection at a time with `status`
/// and, for 200, its clock shifted by `shift_ns`, in `GET /clock`'s format.
fn shifted_clock(shift_ns: i64, status: u16) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 512];
            while let Ok(n @ 1..) = s.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    let reading = (i128::from(now_ns()) + i128::from(shift_ns)) as u64;
                    let body = format!("{reading:016x}\n");
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(answer.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_host_the_offset_is_zero_within_its_bound() {
    let server = TestServer::start().await;
    let found = estimate(server.addr, EXCHANGES, None)
        .await
        .unwrap()
        .unwrap();
    let e = found.estimate;
    eprintln!(
        "loopback: offset {} ns, error bound {} ns, {} exchanges",
        e.offset_ns, e.error_ns, e.exchanges
    );
    assert_eq!(e.exchanges, EXCHANGES);
    assert!(
        e.offset_ns.unsigned_abs() <= e.error_ns,
        "offset {} ns beyond its bound {} ns on one clock",
        e.offset_ns,
        e.error_ns
    );
    // 16 requests of `GET /clock HTTP/1.1` with a host field, each answered: the bytes
    // counted are at least the requests' and the 17-byte bodies.
    let request = format!("GET /clock HTTP/1.1\r\nhost: {}\r\n\r\n", server.addr).len() as u64;
    assert!(found.bytes >= u64::from(EXCHANGES) * (request + 17));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_clock_is_recovered_within_the_bound() {
    // Ahead by an hour, and behind by a second (this host has been up longer than that:
    // the monotonic clock counts from boot).
    assert!(now_ns() > 10_000_000_000);
    for shift_ns in [3_600_000_000_000_i64, -1_000_000_007] {
        let addr = shifted_clock(shift_ns, 200);
        let e = estimate(addr, EXCHANGES, None)
            .await
            .unwrap()
            .unwrap()
            .estimate;
        let off_by = (e.offset_ns - shift_ns).unsigned_abs();
        eprintln!(
            "shift {shift_ns} ns: estimate {} ns, off by {off_by} ns, bound {} ns",
            e.offset_ns, e.error_ns
        );
        assert!(
            off_by <= e.error_ns,
            "off by {off_by} ns, bound {} ns",
            e.error_ns
        );
    }
}

#[tokio::test]
async fn a_passed_deadline_stops_after_one_exchange() {
    let addr = shifted_clock(0, 200);
    let found = estimate(addr, EXCHANGES, Some(now_ns())).await.unwrap();
    assert_eq!(found.unwrap().estimate.exchanges, 1);
}

#[tokio::test]
async fn a_server_without_clock_is_told_apart_from_a_broken_one() {
    // 404: a server older than /clock, which a run on its host measures without one.
    let old = estimate(shifted_clock(0, 404), EXCHANGES, None).await;
    assert!(old.unwrap().is_none());
    let e = estimate(shifted_clock(0, 500), EXCHANGES, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("GET /clock answered 500"), "{e}");
}
