//! A client's TCP connection: every byte read or written passes through here and is
//! counted, so the totals include headers, framing, handshakes and empty answers.

use crate::error::ClientError;
use crate::stats::Meter;
use bytes::BytesMut;
use pushbench_wire::now_ns;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Read buffer per connection. Small, because a benchmark holds thousands of idle
/// connections; it grows when a burst arrives faster than it is parsed.
const READ_BUFFER: usize = 4096;

pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed by a parser.
    pub(crate) buf: BytesMut,
    pub(crate) meter: Meter,
    /// When the connection was opened, for handshake timing.
    pub(crate) opened_ns: u64,
}

impl Conn {
    /// Connects to `addr`, from `source` when given (see [`crate::phase`] on why clients
    /// spread over several loopback source addresses).
    pub(crate) async fn connect(
        addr: SocketAddr,
        source: Option<IpAddr>,
        meter: &Meter,
    ) -> Result<Conn, ClientError> {
        let t0 = now_ns();
        let stream = open(addr, source).await.map_err(ClientError::Connect)?;
        // Latency is the quantity under test: never let Nagle hold a small request back.
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        let opened_ns = now_ns();
        meter.connected(opened_ns - t0);
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(READ_BUFFER),
            meter: meter.clone(),
            opened_ns,
        })
    }

    /// Reads whatever is available into `buf` (cancel-safe) and returns the receive time.
    pub(crate) async fn fill(&mut self) -> Result<u64, ClientError> {
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
    pub(crate) async fn send(&mut self, bytes: &[u8], setup: bool) -> Result<u64, ClientError> {
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
