//! The control client: how the load generator tells a server what to publish and reads its
//! counters. One short connection per request, its bytes counted apart from the clients'.

use crate::error::{ClientError, LoadgenError};
use crate::http::parse_head;
use pushbench_model::protocol::{HEADS_AT_HEADER, START_HEADER, StatsDoc, WorkloadDoc};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a control request may go unanswered before the server is taken to have
/// stopped answering, which fails the run. Generous on purpose: a server past its ceiling
/// is slow, and that is a result to report (the phase is judged overloaded), not an error;
/// only a server that does not answer at all for this long is one.
pub const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The control requests, each a method and a path of the contract.
#[derive(Debug, Clone, Copy)]
enum Request {
    Workload,
    Stop,
    Stats,
}

impl Request {
    /// The request line's method and path, as errors name the request too.
    fn line(self) -> &'static str {
        // Spelt out, since errors need a `&'static str`; the test below holds them to the
        // contract's paths.
        match self {
            Request::Workload => "POST /control/workload",
            Request::Stop => "POST /control/stop",
            Request::Stats => "GET /stats",
        }
    }
}

/// A server's control endpoints.
#[derive(Debug)]
pub struct Control {
    addr: SocketAddr,
    /// `authorization: Bearer <token>\r\n`, for a server that protects its control endpoints.
    auth: String,
    /// Bytes all control requests carried, both directions.
    pub bytes: u64,
}

impl Control {
    /// A control client for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Control::with_token(addr, None)
    }

    /// A control client that presents `token` as a bearer token.
    pub fn with_token(addr: SocketAddr, token: Option<&str>) -> Self {
        let auth = token.map_or_else(String::new, |t| format!("authorization: Bearer {t}\r\n"));
        Control {
            addr,
            auth,
            bytes: 0,
        }
    }

    /// Replaces the server's topics and starts its publisher.
    ///
    /// A server that predates `response_headers` would ignore them and answer without the
    /// fields the scenario asked for, so their echo in the accepted workload is checked.
    pub async fn workload(&mut self, w: &WorkloadDoc) -> Result<(), LoadgenError> {
        self.workload_from(w, None).await
    }

    /// [`Control::workload`], its publisher's tick 0 due at `start_ns` on the server's
    /// clock when given ([`START_HEADER`]), so that the load generator knows where the
    /// ticks fall and can keep them clear of its window's edges. A server that predates the
    /// field starts its schedule when the request arrives.
    pub async fn workload_from(
        &mut self,
        w: &WorkloadDoc,
        start_ns: Option<u64>,
    ) -> Result<(), LoadgenError> {
        let request = Request::Workload;
        let body = serde_json::to_vec(w).expect("plain struct serializes");
        let fields = start_ns.map_or_else(String::new, |ns| format!("{START_HEADER}: {ns}\r\n"));
        let answer = self.call(request, &fields, &body).await?;
        if w.response_headers.is_empty() {
            return Ok(());
        }
        let echo: Option<WorkloadDoc> = serde_json::from_slice(&answer).ok();
        if echo.is_some_and(|e| e.response_headers == w.response_headers) {
            return Ok(());
        }
        Err(LoadgenError::Control {
            addr: self.addr,
            request: request.line(),
            source: ClientError::Protocol(
                "the server accepted the workload without its response_headers (does it predate them?)".into(),
            ),
        })
    }

    /// Stops the server's publisher.
    pub async fn stop(&mut self) -> Result<(), LoadgenError> {
        self.call(Request::Stop, "", b"").await.map(drop)
    }

    /// Reads the server's counters.
    pub async fn stats(&mut self) -> Result<StatsDoc, LoadgenError> {
        self.stats_with("").await
    }

    /// Reads the server's counters with its topic heads as they were at `at_ns` on its
    /// clock ([`HEADS_AT_HEADER`]): however late the answer, a window's edge read this way
    /// counts exactly the ticks due by then. A server that predates the field answers with
    /// its heads now, and leaves `heads_at_ns` out.
    pub async fn stats_at(&mut self, at_ns: u64) -> Result<StatsDoc, LoadgenError> {
        self.stats_with(&format!("{HEADS_AT_HEADER}: {at_ns}\r\n"))
            .await
    }

    async fn stats_with(&mut self, fields: &str) -> Result<StatsDoc, LoadgenError> {
        let request = Request::Stats;
        let body = self.call(request, fields, b"").await?;
        serde_json::from_slice(&body).map_err(|e| LoadgenError::Control {
            addr: self.addr,
            request: request.line(),
            source: ClientError::Protocol(format!("bad /stats JSON: {e}")),
        })
    }

    /// One control request; `fields`: header lines to add, each ending in CRLF.
    async fn call(
        &mut self,
        request: Request,
        fields: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, LoadgenError> {
        let addr = self.addr;
        let wrap = |source| LoadgenError::Control {
            addr,
            request: request.line(),
            source,
        };
        let (status, answer) =
            tokio::time::timeout(CONTROL_TIMEOUT, self.exchange(request, fields, body))
                .await
                .map_err(|_| {
                    wrap(ClientError::Protocol(format!(
                        "no answer within {} s: the server stopped answering",
                        CONTROL_TIMEOUT.as_secs()
                    )))
                })?
                .map_err(wrap)?;
        if status != 200 {
            let text = String::from_utf8_lossy(&answer);
            return Err(LoadgenError::ControlRejected {
                addr,
                request: request.line(),
                status,
                body: text.lines().next().unwrap_or("").to_string(),
            });
        }
        Ok(answer)
    }

    async fn exchange(
        &mut self,
        request: Request,
        fields: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut s = TcpStream::connect(self.addr)
            .await
            .map_err(ClientError::Connect)?;
        let mut req = format!(
            "{} HTTP/1.1\r\nhost: {}\r\n{}{fields}connection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            request.line(),
            self.addr,
            self.auth,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        s.write_all(&req).await?;
        self.bytes += req.len() as u64;
        let mut buf = Vec::with_capacity(4096);
        loop {
            if let Some(head) = parse_head(&buf)? {
                let want = head.len + head.content_length.unwrap_or(0);
                if buf.len() >= want || (head.content_length.is_none() && !head.chunked) {
                    return Ok((head.status, buf[head.len..want.min(buf.len())].to_vec()));
                }
            }
            let n = s.read_buf(&mut buf).await?;
            self.bytes += n as u64;
            if n == 0 {
                return Err(ClientError::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_model::protocol::{STATS_PATH, STOP_PATH, WORKLOAD_PATH};
    use tokio::net::TcpListener;

    /// A server that answers every request with `200` and `body`, once.
    async fn answering(body: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
        });
        addr
    }

    #[test]
    fn request_lines_name_the_contract_paths() {
        for (r, path) in [
            (Request::Workload, WORKLOAD_PATH),
            (Request::Stop, STOP_PATH),
            (Request::Stats, STATS_PATH),
        ] {
            assert!(r.line().ends_with(&format!(" {path}")), "{}", r.line());
        }
    }

    #[tokio::test]
    async fn a_server_that_drops_response_headers_is_an_error() {
        let fields = [("Server".to_string(), "nginx".to_string())];
        let w = WorkloadDoc {
            topics: 1,
            rate: 1.0,
            payload_bytes: 8,
            response_headers: fields.to_vec(),
        };
        let old = answering(r#"{"topics":1,"rate":1.0,"payload_bytes":8}"#).await;
        let e = Control::new(old)
            .workload(&w)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("without its response_headers"), "{e}");
        let new =
            r#"{"topics":1,"rate":1.0,"payload_bytes":8,"response_headers":[["Server","nginx"]]}"#;
        let addr = answering(new).await;
        Control::new(addr).workload(&w).await.unwrap();
        // Without fields, nothing is asked of the answer.
        let plain = WorkloadDoc {
            response_headers: Vec::new(),
            ..w
        };
        let addr = answering(r#"{"topics":1,"rate":1.0,"payload_bytes":8}"#).await;
        Control::new(addr).workload(&plain).await.unwrap();
    }
}
