//! Test helpers shared by every pushbench crate's tests, kept in one place: a server
//! started in-process on `127.0.0.1:0` exactly as the binary starts it (`serve_with` on a
//! bound listener with a shutdown future), stopped when the handle is dropped.
//!
//! Only tests depend on this crate; it must never hold a fixed port or touch anything but
//! loopback.
#![warn(missing_docs)]

pub mod proxy;
pub mod raw;
pub mod ws;

use pushbench_server::{ServerConfig, ServerError, serve_with};
use raw::{Conn, Response};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Upper bound for any single wait in a test: generous for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh, empty directory under the system's temporary directory, unique to this test
/// process and `tag`.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pushbench-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a temporary directory");
    d
}

/// A server running in this process on an ephemeral loopback port.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    token: CancellationToken,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Starts a server with the default configuration.
    pub async fn start() -> TestServer {
        TestServer::start_with(ServerConfig::default()).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let token = CancellationToken::new();
        let task = tokio::spawn(serve_with(
            listener,
            config,
            token.clone().cancelled_owned(),
        ));
        TestServer {
            addr,
            token,
            task: Some(task),
        }
    }

    /// Opens a raw connection to the server.
    pub async fn connect(&self) -> Conn {
        Conn::new(
            TcpStream::connect(self.addr)
                .await
                .expect("connect to the test server"),
        )
    }

    /// Sends one request on a fresh connection and reads the whole (fixed-length) answer.
    pub async fn request(&self, method: &str, target: &str, body: &[u8]) -> Response {
        let mut conn = self.connect().await;
        conn.send_request(method, target, &[], body).await;
        conn.read_response().await
    }

    /// `GET target`.
    pub async fn get(&self, target: &str) -> Response {
        self.request("GET", target, b"").await
    }

    /// `POST target` with `body`.
    pub async fn post(&self, target: &str, body: &[u8]) -> Response {
        self.request("POST", target, body).await
    }

    /// Sets the workload, failing the test unless the server accepts it.
    pub async fn workload(&self, topics: u64, rate: f64, payload_bytes: u64) -> Response {
        let body =
            format!(r#"{{"topics": {topics}, "rate": {rate}, "payload_bytes": {payload_bytes}}}"#);
        let resp = self.post("/control/workload", body.as_bytes()).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp
    }

    /// Publishes a publish body into `topic`, failing the test unless it is accepted.
    pub async fn publish(&self, topic: u64, body: &[u8]) {
        let resp = self.post(&format!("/publish?topic={topic}"), body).await;
        assert_eq!(resp.status, 204, "{}", resp.text());
        assert!(resp.body.is_empty());
    }

    /// `GET /stats`, parsed.
    pub async fn stats(&self) -> serde_json::Value {
        let resp = self.get("/stats").await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        serde_json::from_slice(&resp.body).expect("stats is JSON")
    }

    /// Starts the shutdown without waiting for it (see [`TestServer::shutdown`]).
    pub fn begin_shutdown(&self) {
        self.token.cancel();
    }

    /// Stops the server and waits until `serve_with` has returned, failing the test if it
    /// returned an error or took longer than [`WAIT`].
    pub async fn shutdown(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("shut down once");
        let result = tokio::time::timeout(WAIT, task)
            .await
            .expect("server returns after shutdown")
            .expect("server task did not panic");
        assert!(result.is_ok(), "{result:?}");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
