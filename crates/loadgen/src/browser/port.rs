//! A port for chromedriver to listen on.
//!
//! chromedriver listens on `[::1]:P` and on `127.0.0.1:P` and exits ("IPv4 port not
//! available") when the second bind fails. Given `--port=0` it lets the kernel pick `P`
//! for IPv6 and then tries the same `P` on IPv4, where an ephemeral port of any loopback
//! connection (a test's clients, a run's, their TIME_WAIT remains) may hold it: on a busy
//! machine that failed once in about twenty starts. So the port is chosen here, below the
//! kernel's ephemeral range, where only explicit binds go, and checked free on both
//! addresses; the rare explicit bind that takes it in between makes chromedriver exit with
//! the same message, and the caller then tries another port.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

/// The message chromedriver exits with when a port it wants is taken.
pub(crate) const TAKEN: &str = "port not available";

/// Ports chosen from: above the registered services most machines run, below Linux's
/// default ephemeral range (32768–60999, `net.ipv4.ip_local_port_range`).
const RANGE: std::ops::Range<u16> = 20_000..32_768;

/// A port free on both loopback addresses now, outside the ephemeral range; `None` when 64
/// tries found none.
pub fn free_port() -> Option<u16> {
    (0..64)
        .map(|_| fastrand::u16(RANGE))
        .find(|&p| free_on_both(p))
}

/// Whether `port` can be bound on 127.0.0.1 and (where the machine has IPv6) on ::1.
fn free_on_both(port: u16) -> bool {
    let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let v6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    let v6_ok = match &v6 {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
    };
    v4.is_ok() && v6_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_outside_the_ephemeral_range_and_bindable() {
        let p = free_port().expect("a free port");
        assert!(RANGE.contains(&p));
        TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).expect("bind it");
    }

    #[test]
    fn a_port_held_on_ipv4_is_not_free() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert!(!free_on_both(held.local_addr().unwrap().port()));
    }
}
