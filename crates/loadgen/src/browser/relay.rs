//! The relay between Chromium and the server: one loopback listener per page. It answers
//! the page itself and `GET /clock` on connections of their own, uncounted; every other
//! connection it forwards to the server byte for byte and counts on the page's meter, so a
//! browser client's `bytes_per_message` is as exact as the load generator's own clients'
//! and holds the browser's real request heads.
//!
//! With `[network]`, each relayed direction crosses the scenario's emulated link (the
//! same [`Pipe`] model as the load generator's own clients, `crate::link`): a connection's
//! first bytes wait for the TCP handshake's round trip, and every chunk is handed on at its
//! release time. The browser stamps receipt itself, so it sees a chunk when the relay's
//! timer fires: up to tokio's 1 ms timer tick after its release, where the load
//! generator's own clients are stamped with the release time exactly (docs/network.md).
//!
//! Hand-written rather than a proxy crate: the byte counts are the measurement, and a
//! connection's first head has to be told apart (connection set-up, as the load
//! generator's own streaming clients count it).

use crate::link::{Jitter, Pipe};
use crate::scenario::NetworkPlan;
use crate::stats::Meter;
use bytes::BytesMut;
use pushbench_model::transport::TransportKind;
use pushbench_wire::now_ns;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The path the relay serves its page at.
pub(super) const PAGE_PATH: &str = "/__pushbench/page";

/// Bytes read at once, per direction of a relayed connection.
const CHUNK: usize = 16 * 1024;

/// What one page's relay needs.
pub(super) struct Relay {
    /// The server.
    pub(super) upstream: SocketAddr,
    /// Where the page's connections are counted, once the phase's window is known (the
    /// page is loaded before; its clients connect after).
    pub(super) meter: std::cell::OnceCell<Meter>,
    /// The page's transport: a stream's, an event stream's and a WebSocket's first request
    /// head and response head are connection set-up, as for the load generator's clients.
    pub(super) kind: TransportKind,
    /// The page's whole HTTP answer.
    pub(super) page: Rc<[u8]>,
    /// The emulated link the page's connections cross, if the scenario has one.
    pub(super) network: Option<NetworkPlan>,
}

/// Serves `listener` until the task is dropped at the phase's close.
pub(super) async fn run(listener: TcpListener, relay: Rc<Relay>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::task::spawn_local(connection(stream, relay.clone()));
    }
}

/// One connection from Chromium: its requests for the page and `/clock` answered here,
/// until it carries any other request, which it and everything after it are forwarded.
/// `/clock` is answered on a kept-alive connection, so that a page's clock readings do not
/// each pay a TCP handshake (the bound on its clock error is half their round trip); the
/// page closes after its answer, so that the page load holds no connection.
async fn connection(mut browser: TcpStream, relay: Rc<Relay>) {
    let _ = browser.set_nodelay(true);
    let mut buf = vec![0u8; CHUNK];
    let mut have = 0;
    loop {
        // A whole head first; a head longer than a chunk is no request of ours.
        let mut head = HeadEnd::default();
        let mut end = head.feed(&buf[..have]);
        while end.is_none() {
            match browser.read(&mut buf[have..]).await {
                Ok(n) if n > 0 && have + n < CHUNK => {
                    end = head.feed(&buf[have..have + n]).map(|k| have + k);
                    have += n;
                }
                _ => return,
            }
        }
        let end = end.unwrap_or(have);
        let line = buf[..end].split(|&b| b == b'\r').next().unwrap_or_default();
        let path = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
        let path = path.split(|&b| b == b'?').next().unwrap_or_default();
        if path == PAGE_PATH.as_bytes() {
            return answer(browser, &relay.page).await;
        }
        if path != b"/clock" {
            return forward(browser, &buf[..have], &relay, now_ns()).await;
        }
        // The load generator and the server read the same CLOCK_MONOTONIC
        // (`pushbench_wire::clock`), so the relay answers the server's `GET /clock` itself.
        let body = format!("{:016x}\n", now_ns());
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if browser.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
        buf.copy_within(end..have, 0);
        have -= end;
    }
}

/// Writes `response` and closes.
async fn answer(mut browser: TcpStream, response: &[u8]) {
    if browser.write_all(response).await.is_ok() {
        let _ = browser.shutdown().await;
        // Chromium closes its side once it has read the answer; closing first with unread
        // bytes would reset the connection under the answer.
        let mut buf = [0u8; 2048];
        let _ = tokio::time::timeout(Duration::from_secs(5), browser.read(&mut buf)).await;
    }
}

/// Forwards a connection to the server, counting each direction until either ends.
/// `asked`: when its first request had arrived whole, from which the connection's time to
/// connect counts.
async fn forward(mut browser: TcpStream, first: &[u8], relay: &Relay, asked: u64) {
    // No client runs before the window is known: nothing of ours to forward yet.
    let Some(meter) = relay.meter.get() else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(relay.upstream).await else {
        meter.error(pushbench_model::result::ErrorKind::Connect);
        return;
    };
    let _ = server.set_nodelay(true);
    let mut jitter = relay.network.as_ref().map(Jitter::of);
    if let (Some(plan), Some(j)) = (&relay.network, &mut jitter) {
        // The emulated TCP handshake: a round trip before the browser's bytes may leave.
        let wait = plan.rtt().as_nanos() as u64 + j.sample() + j.sample();
        crate::clients::sleep_until_ns(now_ns() + wait).await;
    }
    meter.connected();
    let _open = Opened(meter);
    let setup = matches!(
        relay.kind,
        TransportKind::Stream | TransportKind::Sse | TransportKind::WebSocket
    );
    if !setup {
        // A poll's connection is ready once connected, as the load generator's poll's is.
        meter.connect_time(now_ns() - asked);
    }
    let (br, bw) = browser.split();
    let (sr, sw) = server.split();
    let shaped = |up| {
        let plan = relay.network.as_ref()?;
        Some((Pipe::of(plan, up), Jitter::of(plan)))
    };
    tokio::select! {
        _ = up(br, sw, first, shaped(true), meter, setup) => {}
        _ = down(sr, bw, shaped(false), meter, setup.then_some(asked)) => {}
    }
}

/// Marks the connection closed on the meter when the relay drops it.
struct Opened<'a>(&'a Meter);

impl Drop for Opened<'_> {
    fn drop(&mut self) {
        self.0.disconnected();
    }
}

/// Browser to server: `first` (already read) and the rest, counted as read from the
/// browser (as the load generator's own clients count what they send, before the link).
/// With `setup`, the bytes up to the end of the first request head are connection set-up.
async fn up(
    from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    first: &[u8],
    link: Option<(Pipe, Jitter)>,
    meter: &Meter,
    setup: bool,
) -> std::io::Result<()> {
    let mut head = setup.then(HeadEnd::default);
    let count = |bytes: &[u8], t: u64| {
        let in_head = head.as_mut().map_or(0, |h| h.take(bytes));
        if in_head > 0 {
            meter.up(in_head, t, true);
        }
        if bytes.len() > in_head {
            meter.up(bytes.len() - in_head, t, false);
        }
        if head.as_ref().is_some_and(HeadEnd::ended) {
            head = None;
        }
    };
    shuttle(from, to, first, link, count, |_, _| {}).await
}

/// Server to browser, counted as the browser receives it (at its release from the link).
/// With `handshake` (when its first request had arrived), the first response head is
/// connection set-up, and its end the connection's time to connect.
async fn down(
    from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    link: Option<(Pipe, Jitter)>,
    meter: &Meter,
    handshake: Option<u64>,
) -> std::io::Result<()> {
    let mut head = handshake.map(|_| HeadEnd::default());
    let count = |bytes: &[u8], t: u64| {
        meter.down(bytes.len(), t);
        if let Some(h) = &mut head {
            let in_head = h.take(bytes);
            meter.down_was_setup(in_head, t);
            if h.ended() {
                meter.handshake_done(t - handshake.unwrap_or(t));
                head = None;
            }
        }
    };
    shuttle(from, to, &[], link, |_, _| {}, count).await
}

/// Moves one direction's bytes, `first` (already read) and then what `from` gives, to `to`,
/// until `from` ends: at once, or through the emulated link, each chunk at its release
/// time. `on_read` sees each chunk as it is read and `on_release` as it is written, with
/// its time (the same without a link).
async fn shuttle(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    first: &[u8],
    mut link: Option<(Pipe, Jitter)>,
    mut on_read: impl FnMut(&[u8], u64),
    mut on_release: impl FnMut(&[u8], u64),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = BytesMut::new();
    let mut pending = first.len();
    buf[..pending].copy_from_slice(first);
    // When the end of `from`'s stream reaches `to`, once read.
    let mut eof: Option<u64> = None;
    loop {
        let now = now_ns();
        if pending > 0 {
            on_read(&buf[..pending], now);
            match &mut link {
                None => {
                    to.write_all(&buf[..pending]).await?;
                    on_release(&buf[..pending], now);
                }
                Some((pipe, jitter)) => {
                    pipe.push(now, &buf[..pending], jitter.sample());
                }
            }
            pending = 0;
        }
        let Some((pipe, jitter)) = &mut link else {
            if eof.is_some() {
                return Ok(());
            }
            let n = from.read(&mut buf).await?;
            match n {
                0 => eof = Some(now),
                n => pending = n,
            }
            continue;
        };
        while let Some((_, release)) = pipe.release_front(now_ns(), &mut out) {
            to.write_all(&out).await?;
            on_release(&out, release);
            out.clear();
        }
        let now = now_ns();
        if eof.is_some_and(|e| e <= now) && pipe.next_release().is_none() {
            return Ok(());
        }
        let room = pipe.room(now);
        let read = eof.is_none() && room >= pipe.min_room().max(1);
        let mut deadline = pipe.next_release().or(eof);
        if !read && eof.is_none() {
            let reopens = pipe.room_at();
            deadline = [deadline, (reopens > now).then_some(reopens)]
                .into_iter()
                .flatten()
                .min();
        }
        let want = (room as usize).clamp(1, CHUNK);
        tokio::select! {
            r = from.read(&mut buf[..want]), if read => match r? {
                0 => eof = Some(pipe.schedule(now_ns(), 0, jitter.sample())),
                n => pending = n,
            },
            _ = crate::clients::sleep_until_ns(deadline.unwrap_or(now)), if deadline.is_some() => {}
            else => return Err(std::io::Error::other("emulated link has nothing to wait for")),
        }
    }
}

/// Finds the end of an HTTP head (`\r\n\r\n`) across reads.
#[derive(Debug, Default)]
struct HeadEnd {
    /// Bytes of `\r\n\r\n` matched so far (4: the head has ended).
    matched: usize,
}

impl HeadEnd {
    const END: &'static [u8; 4] = b"\r\n\r\n";

    /// How many of `bytes` belong to the head (all of them while it has not ended).
    fn take(&mut self, bytes: &[u8]) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            if self.matched == 4 {
                return i;
            }
            self.matched = if b == Self::END[self.matched] {
                self.matched + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
        }
        bytes.len()
    }

    /// [`HeadEnd::take`], and whether the head ended in `bytes`.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let n = self.take(bytes);
        self.ended().then_some(n)
    }

    fn ended(&self) -> bool {
        self.matched == 4
    }
}

#[cfg(test)]
mod tests {
    use super::HeadEnd;

    #[test]
    fn a_head_ends_at_its_blank_line_across_reads() {
        let mut h = HeadEnd::default();
        assert_eq!(h.take(b"GET / HTTP/1.1\r\nHost: a\r"), 24);
        assert!(!h.ended());
        assert_eq!(h.take(b"\n\r\nbody"), 3);
        assert!(h.ended());
        assert_eq!(h.take(b"more"), 0);
        let mut h = HeadEnd::default();
        assert_eq!(h.take(b"a\r\r\n\r\nb"), 6, "a stray CR restarts the match");
    }
}
