//! A client's TCP connection: every byte read or written passes through here and is
//! counted, so the totals include headers, framing, handshakes and empty answers. With a
//! `[network]` the bytes cross the emulated link of [`crate::link`] on the way.

use crate::clients::Client;
use crate::error::ClientError;
use crate::link::Link;
use crate::scenario::Pattern;
use crate::stats::Meter;
use bytes::BytesMut;
use pushbench_wire::now_ns;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Read buffer per connection. Small, because a benchmark holds thousands of idle
/// connections; it grows when a burst arrives faster than it is parsed.
pub(crate) const READ_BUFFER: usize = 4096;

pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed by a parser.
    pub(crate) buf: BytesMut,
    pub(crate) meter: Meter,
    /// When connecting started, for the time to connect and hand-shake.
    pub(crate) started_ns: u64,
    /// The emulated link, with `[network]` only: boxed, so that without it a connection
    /// grows by one null pointer and every call by one branch.
    link: Option<Box<Link>>,
}

impl Conn {
    /// Connects `client` to the server, from its source address when it has one (see
    /// [`crate::phase`] on why clients spread over several loopback source addresses).
    /// `handshake`: the caller records the connection's time to connect itself, once its
    /// handshake (WebSocket upgrade, a stream's response head) is done; otherwise it is
    /// recorded here, TCP connect alone.
    pub(crate) async fn connect(client: &Client, handshake: bool) -> Result<Conn, ClientError> {
        let t0 = now_ns();
        let stream = open(client.plan.addr, client.source)
            .await
            .map_err(ClientError::Connect)?;
        // Latency is the quantity under test: never let Nagle hold a small request back.
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        client.meter.connected();
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(READ_BUFFER),
            meter: client.meter.clone(),
            started_ns: t0,
            link: (client.plan.network.as_ref()).map(|n| {
                // See `Link::new` on why the echo pattern's clients wait for each release.
                let hand_over = client.plan.pattern != Pattern::Echo;
                Box::new(Link::new(n, hand_over))
            }),
        };
        if let Some(link) = &mut conn.link {
            link.handshake().await;
        }
        if !handshake {
            client.meter.connect_time(now_ns() - t0);
        }
        Ok(conn)
    }

    /// Reads whatever is available into `buf` (cancel-safe) and returns the receive time.
    pub(crate) async fn fill(&mut self) -> Result<u64, ClientError> {
        if let Some(link) = &mut self.link {
            return link.fill(&self.stream, &mut self.buf, &self.meter).await;
        }
        if self.buf.capacity() - self.buf.len() < READ_BUFFER / 4 {
            // Reclaims the consumed front of the buffer when it can, so a steady stream of
            // messages reuses one allocation.
            self.buf.reserve(READ_BUFFER);
        }
        let n = self.stream.read_buf(&mut self.buf).await?;
        let t = now_ns();
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.meter.down(n, t);
        Ok(t)
    }

    /// Writes all of `bytes`; `setup` marks connection set-up bytes.
    /// Through an emulated link it returns at once (the link writes the bytes when due).
    pub(crate) async fn send(&mut self, bytes: &[u8], setup: bool) -> Result<u64, ClientError> {
        if let Some(link) = &mut self.link {
            return link.send(&self.stream, bytes, setup, &self.meter).await;
        }
        self.stream.write_all(bytes).await?;
        let t = now_ns();
        self.meter.up(bytes.len(), t, setup);
        Ok(t)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.meter.disconnected();
    }
}

async fn open(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(src) = source {
        // Bind the address but leave the port to connect(): the kernel then picks a port
        // unique for the whole 4-tuple, instead of reserving one per source address up front.
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        socket.bind(SocketAddr::new(src, 0))?;
    }
    socket.connect(addr).await
}
