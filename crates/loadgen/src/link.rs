//! The emulated link of `[network]` (docs/network.md): every byte a client reads or writes
//! crosses it when the scenario has one. Each direction is a [`Pipe`], a pure model of a
//! FIFO link with a bandwidth, a delay, jitter and a byte-limited queue; a [`Link`] holds
//! the two pipes of one connection and moves bytes between them, the socket and the client.
//!
//! A chunk of `len` bytes entering a pipe at `arrival` is transmitted at
//! `tx_end = max(arrival, previous tx_end) + len × 8 / bandwidth` and released at
//! `release = max(tx_end + delay + jitter sample, previous release)`: serialisation is
//! charged per chunk (netem's `rate`, not a token bucket, which would let a burst through
//! on credit saved while idle), and jitter never reorders, as on a FIFO link.

use crate::conn::READ_BUFFER;
use crate::error::ClientError;
use crate::scenario::NetworkPlan;
use crate::stats::Meter;
use bytes::{Buf, BufMut, BytesMut};
use pushbench_wire::now_ns;
use std::future::Future;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Largest chunk one read takes off the socket. It bounds how many bytes are released at
/// once: 4 KiB is 33 ms at 1 Mbit/s, so a message never waits long for the rest of its read.
pub(crate) const MAX_CHUNK: usize = 4096;

/// Bytes a pipe may hold beyond its queue: transmitted and still on their way. With a
/// bandwidth that is at most bandwidth × (delay + jitter); without one nothing waits for
/// transmission and this alone bounds memory. It plays the part of TCP's receive window,
/// which the kernel would otherwise apply (Linux's default maximum is 6 MiB): a link whose
/// bandwidth-delay product is larger is held to 4 MiB per delay.
const IN_FLIGHT_LIMIT: u64 = 4 << 20;

/// The most an emptied pipe keeps allocated for the next chunk.
const RETAINED: usize = 1024;

/// Each held chunk is stored as its length (u32) and release time (u64), then its bytes.
const RECORD: usize = 12;

/// One direction of a link: which bytes it holds and when each chunk is released. No I/O
/// and no clock: every time is an argument, so it can be tested with hand-computed times.
#[derive(Debug)]
pub(crate) struct Pipe {
    delay_ns: u64,
    bits_per_s: Option<u64>,
    queue: u64,
    /// When the link has transmitted everything it was given.
    tx_end: u64,
    /// Release time of the newest chunk; no later chunk is released before it.
    last_release: u64,
    /// The held chunks in order, each a record header and its bytes. Empty (and holding no
    /// allocation) whenever the pipe holds nothing.
    held: BytesMut,
    /// Bytes of data held, headers not counted.
    held_bytes: u64,
}

impl Pipe {
    /// The client-to-server (`up`) or the server-to-client direction of `plan`'s link.
    pub(crate) fn of(plan: &NetworkPlan, up: bool) -> Pipe {
        let (delay, bandwidth) = if up {
            (plan.delay_up, plan.bandwidth_up_bps)
        } else {
            (plan.delay_down, plan.bandwidth_down_bps)
        };
        Pipe::new(delay.as_nanos() as u64, bandwidth, plan.queue_bytes)
    }

    pub(crate) fn new(delay_ns: u64, bits_per_s: Option<u64>, queue: u64) -> Pipe {
        Pipe {
            delay_ns,
            bits_per_s,
            queue,
            tx_end: 0,
            last_release: 0,
            held: BytesMut::new(),
            held_bytes: 0,
        }
    }

    /// Time to transmit `len` bytes, ns.
    fn serialisation_ns(&self, len: u64) -> u64 {
        self.bits_per_s.map_or(0, |b| {
            (u128::from(len) * 8_000_000_000 / u128::from(b)) as u64
        })
    }

    /// Charges a chunk of `len` bytes arriving at `arrival` its transmission, delay and
    /// `jitter_ns`, and returns its release time.
    pub(crate) fn schedule(&mut self, arrival: u64, len: u64, jitter_ns: u64) -> u64 {
        let tx_end = arrival.max(self.tx_end) + self.serialisation_ns(len);
        let release = (tx_end + self.delay_ns + jitter_ns).max(self.last_release);
        self.tx_end = tx_end;
        self.last_release = release;
        release
    }

    /// Takes in a chunk; returns its release time.
    pub(crate) fn push(&mut self, arrival: u64, data: &[u8], jitter_ns: u64) -> u64 {
        let release = self.schedule(arrival, data.len() as u64, jitter_ns);
        self.held.reserve(RECORD + data.len());
        self.held.put_u32(data.len() as u32);
        self.held.put_u64(release);
        self.held.extend_from_slice(data);
        self.held_bytes += data.len() as u64;
        release
    }

    /// Charges a chunk whose bytes the client was handed on arrival ([`Link::new`]'s
    /// `hand_over`): only its record is kept, so that until its release it still counts
    /// in flight, for the room the link has and the order it releases in. A pipe holds
    /// either chunks with their bytes or records alone, never both.
    pub(crate) fn push_record(&mut self, arrival: u64, len: usize, jitter_ns: u64) -> u64 {
        let release = self.schedule(arrival, len as u64, jitter_ns);
        self.held.reserve(RECORD);
        self.held.put_u32(len as u32);
        self.held.put_u64(release);
        self.held_bytes += len as u64;
        release
    }

    /// Forgets the records ([`Pipe::push_record`]) released by `now`.
    pub(crate) fn forget_released(&mut self, now: u64) {
        while let Some((len, release)) = self.front()
            && release <= now
        {
            self.held.advance(RECORD);
            self.held_bytes -= len as u64;
        }
        self.free_if_empty();
    }

    /// Length and release time of the oldest chunk held.
    fn front(&self) -> Option<(usize, u64)> {
        let h = self.held.get(..RECORD)?;
        let len = u32::from_be_bytes(h[..4].try_into().expect("4 bytes")) as usize;
        Some((len, u64::from_be_bytes(h[4..].try_into().expect("8 bytes"))))
    }

    /// When the oldest chunk held is released.
    pub(crate) fn next_release(&self) -> Option<u64> {
        self.front().map(|(_, r)| r)
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Appends the oldest chunk to `out` if it is due at `now`; returns its length and
    /// release time.
    pub(crate) fn release_front(&mut self, now: u64, out: &mut BytesMut) -> Option<(usize, u64)> {
        let (len, release) = self.front().filter(|&(_, r)| r <= now)?;
        out.extend_from_slice(&self.held[RECORD..RECORD + len]);
        self.held.advance(RECORD + len);
        self.held_bytes -= len as u64;
        self.free_if_empty();
        Some((len, release))
    }

    /// The bytes of the oldest chunk, if it is due at `now`.
    pub(crate) fn due_front(&self, now: u64) -> Option<&[u8]> {
        let (len, release) = self.front()?;
        (release <= now).then(|| &self.held[RECORD..RECORD + len])
    }

    /// Drops the first `n` bytes of the oldest chunk (written to the socket).
    pub(crate) fn consume_front(&mut self, n: usize) {
        let (len, release) = self.front().expect("a chunk is held");
        // The new record header goes where the consumed bytes were, just before the rest.
        self.held.advance(n);
        self.held[..4].copy_from_slice(&((len - n) as u32).to_be_bytes());
        self.held[4..RECORD].copy_from_slice(&release.to_be_bytes());
        self.held_bytes -= n as u64;
        if len == n {
            self.held.advance(RECORD);
            self.free_if_empty();
        }
    }

    fn free_if_empty(&mut self) {
        // An emptied pipe keeps a small allocation for the next chunk (a message's worth:
        // one allocation per connection rather than one per message) and gives back one a
        // burst grew, so an idle connection costs little more than without emulation.
        if self.held.is_empty() && self.held.capacity() > RETAINED {
            self.held = BytesMut::new();
        }
    }

    /// Bytes waiting for transmission at `now`: a link with a backlog transmits without
    /// pause, so they are what `tx_end - now` takes at the bandwidth.
    pub(crate) fn backlog(&self, now: u64) -> u64 {
        let Some(b) = self.bits_per_s else { return 0 };
        let ns = u128::from(self.tx_end.saturating_sub(now));
        (ns * u128::from(b)).div_ceil(8_000_000_000) as u64
    }

    /// Bytes the pipe may take in at `now`.
    pub(crate) fn room(&self, now: u64) -> u64 {
        let queued = self.queue.saturating_sub(self.backlog(now));
        let in_flight = (self.queue + IN_FLIGHT_LIMIT).saturating_sub(self.held_bytes);
        queued.min(in_flight)
    }

    /// The least room worth taking bytes in for: half the queue, at most a chunk, so a
    /// full queue is topped up in reads of a useful size rather than byte by byte, while
    /// it still holds half its bytes and the link never runs dry.
    pub(crate) fn min_room(&self) -> u64 {
        (self.queue / 2).min(MAX_CHUNK as u64)
    }

    /// When transmission alone will have made [`Pipe::min_room`] of room (releases can
    /// make room too; they are waited for anyway).
    pub(crate) fn room_at(&self) -> u64 {
        let Some(b) = self.bits_per_s else { return 0 };
        let keep = u128::from(self.queue - self.min_room()) * 8_000_000_000 / u128::from(b);
        self.tx_end.saturating_sub(keep as u64)
    }
}

/// A link's jitter: each chunk's extra delay, uniform in `[0, max]`.
pub(crate) struct Jitter {
    max_ns: u64,
    rng: fastrand::Rng,
}

impl Jitter {
    pub(crate) fn of(plan: &NetworkPlan) -> Jitter {
        Jitter {
            max_ns: plan.jitter.as_nanos() as u64,
            // Seeded from the thread's generator: every connection draws its own sequence.
            rng: fastrand::Rng::new(),
        }
    }

    /// The next chunk's extra delay, ns.
    pub(crate) fn sample(&mut self) -> u64 {
        if self.max_ns == 0 {
            0
        } else {
            self.rng.u64(0..=self.max_ns)
        }
    }
}

/// The per-connection state of the emulated link; boxed in [`crate::conn::Conn`], so a
/// connection without `[network]` carries one null pointer.
pub(crate) struct Link {
    down: Pipe,
    up: Pipe,
    jitter: Jitter,
    /// Extra delay of the connection's first round trip (the TCP handshake).
    handshake_ns: u64,
    /// One reading of both clocks, to turn release times into timer deadlines without
    /// reading the clocks again: both count `CLOCK_MONOTONIC`, so their offset is fixed.
    origin: (std::time::Instant, u64),
    /// The connection's one timer, set to the earliest moment the link has work.
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set to and has not yet fired for.
    armed: Option<u64>,
    /// When the end of the server's stream reaches the client, once read.
    eof: Option<u64>,
    /// Due upstream bytes the socket would not take: wait until it is writable.
    write_blocked: bool,
    /// Set when [`Link::fill`] hands over one chunk while more were due: when the client
    /// asked for them, and the time up to which chunks fell due while it was asking.
    carry: Option<(u64, u64)>,
    /// Downstream bytes are handed to the client as they arrive, stamped with their
    /// release time ([`Link::new`]).
    hand_over: bool,
    /// The latest release time of a chunk handed over on arrival: the client's clock, in
    /// the emulation, has reached it once it has the chunk, so nothing it sends is earlier.
    handed_until: u64,
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Link {
    /// A link with the conditions of `plan`.
    ///
    /// `hand_over`: downstream bytes are handed to the client as soon as the link reads
    /// them, stamped with their release time, instead of waking the client a second time
    /// at that moment; the link keeps their record, so its room, back-pressure and release
    /// order are the same. What the client records is the same either way: a chunk's
    /// receive time is its release time when the client was waiting for it, and a client
    /// handed a chunk on arrival was. What it sends next is stamped no earlier than that
    /// release ([`Link::send`]), so an answer caused by a message still leaves after the
    /// message arrived. Only a send the client makes on a timer of its own, independent of
    /// what it received, could be held back by this (by less than the one-way delay): the
    /// echo pattern's publishes are, so clients in that pattern do not use it.
    pub(crate) fn new(plan: &NetworkPlan, hand_over: bool) -> Link {
        Link {
            down: Pipe::of(plan, false),
            up: Pipe::of(plan, true),
            jitter: Jitter::of(plan),
            handshake_ns: plan.rtt().as_nanos() as u64,
            origin: (std::time::Instant::now(), now_ns()),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            armed: None,
            eof: None,
            write_blocked: false,
            carry: None,
            hand_over,
            handed_until: 0,
        }
    }

    fn jitter(&mut self) -> u64 {
        self.jitter.sample()
    }

    /// Sets the timer to `deadline` unless it is set there already.
    fn arm(&mut self, deadline: Option<u64>) {
        if let Some(d) = deadline
            && self.armed != Some(d)
        {
            // One microsecond late rather than early: the two clocks were read one after
            // the other, and a timer that fires before a release finds nothing due and
            // waits a whole tick more.
            let (instant, ns) = self.origin;
            let at = instant + Duration::from_nanos(d.saturating_sub(ns) + 1_000);
            self.timer.as_mut().reset(at.into());
        }
        self.armed = deadline;
    }

    /// The connection's first round trip: the TCP handshake crosses the link once each way
    /// before the client may send.
    pub(crate) async fn handshake(&mut self) {
        let wait = self.handshake_ns + self.jitter() + self.jitter();
        if wait == 0 {
            // A link without delay: no timer tick to wait for.
            return;
        }
        self.arm(Some(now_ns() + wait));
        (&mut self.timer).await;
        self.armed = None;
    }

    /// Writes the upstream bytes due at `now` as far as the socket takes them.
    fn flush_up(&mut self, stream: &TcpStream, now: u64) -> Result<(), ClientError> {
        if self.up.held.is_empty() {
            return Ok(());
        }
        while !self.write_blocked
            && let Some(data) = self.up.due_front(now)
        {
            match stream.try_write(data) {
                Ok(n) if n > 0 => self.up.consume_front(n),
                Ok(_) => self.write_blocked = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.write_blocked = true,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads one chunk off the socket into `buf`'s spare room, at most `room` bytes.
    fn recv(
        &mut self,
        stream: &TcpStream,
        buf: &mut BytesMut,
        room: u64,
    ) -> Result<Recv, ClientError> {
        let start = buf.len();
        if buf.capacity() - start < READ_BUFFER / 4 {
            buf.reserve(READ_BUFFER);
        }
        let spare = buf.spare_capacity_mut();
        let want = (room as usize).min(MAX_CHUNK).min(spare.len());
        let fd = stream.as_raw_fd();
        let mut got = 0;
        let result = stream.try_io(Interest::READABLE, || {
            // SAFETY: recv writes at most `want` bytes into spare capacity `buf` owns.
            let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            got = n as usize;
            // A read that took less than it asked for emptied the socket: saying so lets
            // tokio clear the readiness now, rather than after one more recv that finds
            // nothing (an event arriving meanwhile is kept: tokio clears by tick). That
            // saves a system call and a wake-up per message, which the emulation pays on
            // top of a client's own wake-ups.
            if got > 0 && got < want {
                Err(ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        let arrival = now_ns();
        // SAFETY: recv initialised the first `got` bytes of the spare capacity.
        unsafe { buf.set_len(start + got) };
        match result {
            _ if got > 0 => Ok(Recv::Bytes { got, arrival }),
            Ok(()) => Ok(Recv::Eof(arrival)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Recv::Nothing(arrival)),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads one chunk off the socket into the downstream pipe, taking at most `room` bytes;
    /// returns the time it read.
    fn read(
        &mut self,
        stream: &TcpStream,
        buf: &mut BytesMut,
        room: u64,
    ) -> Result<u64, ClientError> {
        // Read through the client's own buffer's spare room, so a held chunk occupies
        // exactly its size in the pipe rather than a whole read buffer.
        match self.recv(stream, buf, room)? {
            Recv::Bytes { got, arrival } => {
                let jitter = self.jitter();
                let start = buf.len() - got;
                self.down.push(arrival, &buf[start..], jitter);
                buf.truncate(start);
                Ok(arrival)
            }
            Recv::Eof(arrival) => {
                self.end_of_stream(arrival);
                Ok(arrival)
            }
            Recv::Nothing(arrival) => Ok(arrival),
        }
    }

    /// The server's end of stream was read at `arrival`.
    fn end_of_stream(&mut self, arrival: u64) {
        let jitter = self.jitter();
        self.eof = Some(self.down.schedule(arrival, 0, jitter));
    }
}

/// What one read off the socket found.
enum Recv {
    /// `got` bytes, appended to the buffer.
    Bytes { got: usize, arrival: u64 },
    /// The end of the server's stream.
    Eof(u64),
    /// Nothing yet.
    Nothing(u64),
}

/// What ended a [`Link::wait`].
enum Woke {
    Writable,
    Timer,
    Readable,
}

impl Link {
    /// Waits for the socket to take upstream bytes again (when it refused some), for the
    /// timer (when armed), or for the socket to have bytes to read (when `read`). Polled by
    /// hand rather than through `select!` and the sockets' `readable()` futures: those
    /// join and leave a list of waiters on every call, twice per message here, where the
    /// readiness polls use the socket's one waker slot per direction.
    fn wait<'a>(
        &'a mut self,
        stream: &'a TcpStream,
        read: bool,
    ) -> impl Future<Output = Result<Woke, ClientError>> + 'a {
        let (blocked, timed) = (self.write_blocked, self.armed.is_some());
        std::future::poll_fn(move |cx| {
            if !(blocked || timed || read) {
                let why = "emulated link has nothing to wait for";
                return Poll::Ready(Err(ClientError::Protocol(why.into())));
            }
            if blocked && let Poll::Ready(r) = stream.poll_write_ready(cx) {
                return Poll::Ready(r.map(|()| Woke::Writable).map_err(Into::into));
            }
            if timed && self.timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(Woke::Timer));
            }
            if read && let Poll::Ready(r) = stream.poll_read_ready(cx) {
                return Poll::Ready(r.map(|()| Woke::Readable).map_err(Into::into));
            }
            Poll::Pending
        })
    }
}

impl Link {
    /// [`crate::conn::Conn::fill`] through the link: waits until downstream bytes are
    /// released to `buf` and returns their receive time, meanwhile taking chunks off the
    /// socket while the queue has room and writing upstream bytes as they fall due.
    /// Cancel-safe: every await is on readiness or the timer, and state changes only after.
    ///
    /// Receive time: a real link hands bytes to a client that is waiting for them at their
    /// release time, so each chunk is stamped `max(release, when the client asked)`. A chunk
    /// that fell due while the client waited here gets its own release time, however late
    /// the timer woke (tokio rounds deadlines up to its 1 ms tick, and the epoll wait once
    /// more: that is the emulator, not the transport); a chunk that was due before the
    /// client asked is received when it asked, as without emulation. The load generator's
    /// own scheduling delay is still charged, once, as for a real client: a chunk's release
    /// is computed from the moment this link read it off the socket, which is when a client
    /// without emulation would have received it. One chunk is handed over per call, so that
    /// chunks released by one wake-up keep their own times.
    pub(crate) async fn fill(
        &mut self,
        stream: &TcpStream,
        buf: &mut BytesMut,
        meter: &Meter,
    ) -> Result<u64, ClientError> {
        if self.hand_over {
            return self.fill_on_arrival(stream, buf, meter).await;
        }
        let called = now_ns();
        // Left in place until a chunk is handed over, so a cancelled call loses nothing.
        let carry = self.carry;
        let mut now = called;
        loop {
            self.flush_up(stream, now)?;
            if let Some((n, release)) = self.down.release_front(now, buf) {
                // Chunks that fell due while an earlier call waited were asked for then.
                let (asked, horizon) = match carry {
                    Some((asked, horizon)) if release <= horizon => (asked, horizon),
                    _ => (called, now),
                };
                let more = self.down.next_release().is_some_and(|r| r <= horizon);
                self.carry = more.then_some((asked, horizon));
                let t = release.max(asked);
                meter.down(n, t);
                return Ok(t);
            }
            if self.eof.is_some_and(|e| e <= now) {
                return Err(ClientError::Closed);
            }
            let room = self.down.room(now);
            let read = self.eof.is_none() && room >= self.down.min_room();
            let mut deadline = min_some(self.down.next_release(), self.eof);
            if !self.write_blocked {
                deadline = min_some(deadline, self.up.next_release());
            }
            if !read && self.eof.is_none() {
                let reopens = self.down.room_at();
                deadline = min_some(deadline, (reopens > now).then_some(reopens));
            }
            self.arm(deadline);
            now = match self.wait(stream, read).await? {
                Woke::Writable => {
                    self.write_blocked = false;
                    now_ns()
                }
                Woke::Timer => {
                    self.armed = None;
                    now_ns()
                }
                Woke::Readable => self.read(stream, buf, room)?,
            };
        }
    }

    /// [`Link::fill`] for a link that hands bytes over on arrival ([`Link::new`]): waits
    /// until the link reads downstream bytes into `buf` and returns their release time,
    /// meanwhile forgetting the records of released chunks (which makes room) and writing
    /// upstream bytes as they fall due. One wake-up per chunk where [`Link::fill`] needs
    /// two, and no copy: at 10,000 connections that is most of what emulation costs.
    async fn fill_on_arrival(
        &mut self,
        stream: &TcpStream,
        buf: &mut BytesMut,
        meter: &Meter,
    ) -> Result<u64, ClientError> {
        loop {
            let now = now_ns();
            self.flush_up(stream, now)?;
            self.down.forget_released(now);
            if self.eof.is_some_and(|e| e <= now) {
                return Err(ClientError::Closed);
            }
            let room = self.down.room(now);
            let read = self.eof.is_none() && room >= self.down.min_room();
            let mut deadline = self.eof;
            if !self.write_blocked {
                deadline = min_some(deadline, self.up.next_release());
            }
            if !read && self.eof.is_none() {
                // Room comes back as records are released or as transmission drains.
                let reopens = self.down.room_at();
                deadline = min_some(deadline, self.down.next_release());
                deadline = min_some(deadline, (reopens > now).then_some(reopens));
            }
            self.arm(deadline);
            match self.wait(stream, read).await? {
                Woke::Writable => self.write_blocked = false,
                Woke::Timer => self.armed = None,
                Woke::Readable => match self.recv(stream, buf, room)? {
                    Recv::Bytes { got, arrival } => {
                        let jitter = self.jitter();
                        let release = self.down.push_record(arrival, got, jitter);
                        self.handed_until = self.handed_until.max(release);
                        meter.down(got, release);
                        return Ok(release);
                    }
                    Recv::Eof(arrival) => self.end_of_stream(arrival),
                    Recv::Nothing(_) => {}
                },
            }
        }
    }

    /// [`crate::conn::Conn::send`] through the link: queues `bytes` for release after
    /// their transmission and delay and returns at once (a client may pipeline sends), the
    /// acceptance time. It waits only while the upstream queue is full, the back-pressure
    /// a slow uplink puts on its sender.
    pub(crate) async fn send(
        &mut self,
        stream: &TcpStream,
        bytes: &[u8],
        setup: bool,
        meter: &Meter,
    ) -> Result<u64, ClientError> {
        let need = self.up.min_room().min(bytes.len() as u64);
        loop {
            let now = now_ns();
            self.flush_up(stream, now)?;
            if self.up.room(now) >= need {
                break;
            }
            let mut deadline = (!self.write_blocked)
                .then(|| self.up.next_release())
                .flatten();
            let reopens = self.up.room_at();
            deadline = min_some(deadline, (reopens > now).then_some(reopens));
            self.arm(deadline);
            if !(self.write_blocked || self.armed.is_some()) {
                break;
            }
            match self.wait(stream, false).await? {
                Woke::Writable => self.write_blocked = false,
                Woke::Timer => self.armed = None,
                Woke::Readable => {}
            }
        }
        let now = now_ns();
        // A client handed bytes on arrival is, in the emulation, no earlier than their
        // release: what it sends now, it sends then.
        let at = now.max(self.handed_until);
        if !bytes.is_empty() {
            let jitter = self.jitter();
            self.up.push(at, bytes, jitter);
        }
        meter.up(bytes.len(), at, setup);
        self.flush_up(stream, now)?;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Releases everything due at `now`; returns (bytes, last release).
    fn due(p: &mut Pipe, now: u64) -> Option<(usize, u64)> {
        release_due(p, now, &mut BytesMut::new())
    }

    fn release_due(p: &mut Pipe, now: u64, out: &mut BytesMut) -> Option<(usize, u64)> {
        let mut moved = None;
        while let Some((n, r)) = p.release_front(now, out) {
            moved = Some((moved.map_or(0, |(m, _)| m) + n, r));
        }
        moved
    }

    #[test]
    fn a_delay_line_releases_each_chunk_its_delay_after_arrival() {
        let mut p = Pipe::new(50 * MS, None, 65536);
        assert_eq!(p.push(1000 * MS, b"abc", 0), 1050 * MS);
        assert_eq!(p.push(1010 * MS, b"de", 0), 1060 * MS);
        assert_eq!(p.next_release(), Some(1050 * MS));
        assert_eq!(due(&mut p, 1049 * MS), None);
        let mut out = BytesMut::new();
        assert_eq!(
            release_due(&mut p, 1055 * MS, &mut out),
            Some((3, 1050 * MS))
        );
        assert_eq!(&out[..], b"abc");
        assert_eq!(
            release_due(&mut p, 1070 * MS, &mut out),
            Some((2, 1060 * MS))
        );
        assert_eq!(&out[..], b"abcde");
        assert!(p.is_empty());
        assert!(
            p.held.capacity() <= RETAINED,
            "an empty pipe keeps little memory"
        );
    }

    #[test]
    fn records_of_handed_over_chunks_hold_room_until_their_release() {
        // No bandwidth, 10 ms delay, a 1,000-byte queue: what may be taken in is bounded
        // by the bytes in flight, IN_FLIGHT_LIMIT beyond the queue.
        let mut p = Pipe::new(10 * MS, None, 1000);
        let big = IN_FLIGHT_LIMIT as usize + 300;
        assert_eq!(p.push_record(0, big, 0), 10 * MS);
        // Jitter never reorders: 4 ms of it on a chunk at 1 ms releases it at 15 ms.
        assert_eq!(p.push_record(MS, 200, 4 * MS), 15 * MS);
        assert_eq!(p.room(MS), 1000 - 300 - 200);
        p.forget_released(10 * MS - 1);
        assert_eq!(p.next_release(), Some(10 * MS));
        p.forget_released(10 * MS);
        assert_eq!(p.room(10 * MS), 1000);
        assert_eq!(p.held_bytes, 200);
        assert_eq!(p.next_release(), Some(15 * MS));
        p.forget_released(15 * MS);
        assert!(p.is_empty());
        assert_eq!(p.held_bytes, 0);
    }

    #[test]
    fn jitter_delays_but_never_reorders() {
        let mut p = Pipe::new(10 * MS, None, 65536);
        // Chunk 1 draws 30 ms of jitter: due at 0 + 10 + 30 = 40 ms. Chunk 2 arrives 5 ms
        // later with none, due at 15 ms on its own, but a FIFO link holds it behind chunk 1.
        assert_eq!(p.push(0, b"1", 30 * MS), 40 * MS);
        assert_eq!(p.push(5 * MS, b"2", 0), 40 * MS);
        // Chunk 3 at 50 ms with 2 ms: 62 ms, later than chunk 2, so its own time holds.
        assert_eq!(p.push(50 * MS, b"3", 2 * MS), 62 * MS);
        let mut out = BytesMut::new();
        assert_eq!(release_due(&mut p, 40 * MS, &mut out), Some((2, 40 * MS)));
        assert_eq!(release_due(&mut p, 61 * MS, &mut out), None);
        assert_eq!(release_due(&mut p, 62 * MS, &mut out), Some((1, 62 * MS)));
        assert_eq!(&out[..], b"123");
    }

    #[test]
    fn bandwidth_charges_each_chunk_its_transmission_time() {
        // 1 Mbit/s: a byte takes 8 µs, 1250 bytes 10 ms; 20 ms one-way delay.
        let mut p = Pipe::new(20 * MS, Some(1_000_000), 65536);
        let kb = vec![b'x'; 1250];
        // Idle link: transmitted 0..10 ms, released 30 ms.
        assert_eq!(p.push(0, &kb, 0), 30 * MS);
        // Arrives at 4 ms while the first is on the wire: sent 10..20 ms, released 40 ms.
        assert_eq!(p.push(4 * MS, &kb, 0), 40 * MS);
        // At 5 ms, 15 ms of transmission are left: 1875 bytes wait.
        assert_eq!(p.backlog(5 * MS), 1875);
        // Arrives at 100 ms on an idle link: no credit saved up, it still takes 10 ms.
        assert_eq!(p.push(100 * MS, &kb, 0), 130 * MS);
        assert_eq!(p.backlog(130 * MS), 0);
    }

    #[test]
    fn a_full_queue_refuses_more_until_transmission_makes_room() {
        // 8 Mbit/s = 1 byte per µs; a 10,000-byte queue; chunks of at most 4096 bytes.
        let mut p = Pipe::new(0, Some(8_000_000), 10_000);
        assert_eq!(p.room(0), 10_000);
        p.push(0, &[0; 4096], 0);
        p.push(0, &[0; 4096], 0);
        assert_eq!(p.room(0), 10_000 - 8192);
        assert!(p.room(0) < p.min_room(), "1808 bytes is not worth a read");
        // Room for 4096 once 8192 - (10,000 - 4096) = 2288 bytes are sent: at 2288 µs.
        assert_eq!(p.room_at(), 2_288_000);
        assert_eq!(p.room(2_288_000), 4096);
    }

    #[test]
    fn without_bandwidth_the_bytes_in_flight_are_bounded() {
        let mut p = Pipe::new(100 * MS, None, 1024);
        let chunk = vec![0u8; MAX_CHUNK];
        let mut n = 0;
        while p.room(0) >= p.min_room() {
            p.push(0, &chunk[..p.room(0).min(MAX_CHUNK as u64) as usize], 0);
            n += 1;
        }
        assert_eq!(p.held_bytes, 1024 + IN_FLIGHT_LIMIT - p.room(0));
        assert!(n > 1000);
        // Once released, the room is back.
        due(&mut p, 100 * MS);
        assert_eq!(p.room(100 * MS), 1024);
    }

    #[test]
    fn a_partly_written_chunk_keeps_its_place_and_release_time() {
        let mut p = Pipe::new(5 * MS, None, 65536);
        p.push(0, b"hello world", 0);
        p.push(1, b"!", 0);
        assert_eq!(p.due_front(4 * MS), None);
        assert_eq!(p.due_front(5 * MS), Some(&b"hello world"[..]));
        p.consume_front(3);
        assert_eq!(p.due_front(5 * MS), Some(&b"lo world"[..]));
        p.consume_front(8);
        assert_eq!(p.next_release(), Some(5 * MS + 1));
        p.consume_front(1);
        assert!(p.is_empty());
        assert_eq!(p.held_bytes, 0);
    }
}
