use pushbench_model::result::ErrorKind;
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why a run could not go on. Failures of single client connections are not here: they are
/// counted by [`ErrorKind`] and the clients reconnect.
#[derive(Debug, Error)]
pub enum LoadgenError {
    /// The scenario file could not be read.
    #[error("{}: cannot read scenario: {source}", path.display())]
    ReadScenario {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A target file could not be read.
    #[error("{}: cannot read target: {source}", path.display())]
    ReadTarget {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A target cannot run the scenario (it lacks a transport the scenario uses, say).
    #[error("{}: target {name}: {why}", target.display())]
    TargetMismatch {
        /// The target file.
        target: PathBuf,
        /// The target's name.
        name: String,
        /// What does not fit.
        why: String,
    },
    /// A request the target file asks for failed (`before_phase`).
    #[error("target {name}: {request}: {why}")]
    TargetRequest {
        /// The target's name.
        name: String,
        /// The request: its key, method and path.
        request: String,
        /// What went wrong.
        why: String,
    },
    /// The target's server process ended during a phase.
    #[error("target {name}: its server (pid {pid}) exited during phase {phase:?}")]
    TargetExited {
        /// The target's name.
        name: String,
        /// The process that ended.
        pid: u32,
        /// The phase's label and repetition.
        phase: String,
    },
    /// A scenario or target file is not valid; `line` is 1-based.
    #[error("{}:{line}: {key}: {message}", path.display())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// The line the problem is on.
        line: usize,
        /// The key involved, as a dotted path.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A control request to the server failed.
    #[error("server {addr}: {request}: {source}")]
    Control {
        /// The server.
        addr: std::net::SocketAddr,
        /// The request, e.g. `POST /control/workload`.
        request: &'static str,
        /// What went wrong.
        source: ClientError,
    },
    /// The server answered a control request with something unexpected.
    #[error("server {addr}: {request} answered {status}: {body}")]
    ControlRejected {
        /// The server.
        addr: std::net::SocketAddr,
        /// The request.
        request: &'static str,
        /// The HTTP status.
        status: u16,
        /// The first line of the answer's body.
        body: String,
    },
    /// The server restarted during a phase: its sequence numbers started over, so the
    /// phase's counts cannot be trusted.
    #[error(
        "server {addr} restarted during phase {phase:?} (its /stats instance changed): its messages were numbered from 1 again, so the phase cannot be measured"
    )]
    ServerRestarted {
        /// The server.
        addr: std::net::SocketAddr,
        /// The phase's label and repetition, e.g. `sse rep 1`.
        phase: String,
    },
    /// A worker thread could not be started or died.
    #[error("load generator worker: {0}")]
    Worker(String),
    /// Chromium or chromedriver could not be started or driven (`client = "browser"`).
    #[error("browser clients: {0}")]
    Browser(String),
    /// A shard could not keep to the run's plan (`docs/sharding.md`).
    #[error("shard {shard}: phase {phase}: {why}")]
    Shard {
        /// `I/N`.
        shard: String,
        /// The phase's number in the plan, label and repetition.
        phase: String,
        /// What went wrong.
        why: String,
    },
}

/// Why one client connection failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection where an answer was due.
    #[error("connection closed by the server")]
    Closed,
    /// The server answered with an unexpected HTTP status.
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The server's bytes break the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl From<pushbench_wire::WireError> for ClientError {
    fn from(e: pushbench_wire::WireError) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

impl ClientError {
    /// The kind this failure is counted under.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Connect(_) => ErrorKind::Connect,
            ClientError::Io(_) => ErrorKind::Io,
            ClientError::Closed => ErrorKind::Closed,
            ClientError::Status(_) => ErrorKind::Status,
            ClientError::Protocol(_) => ErrorKind::Protocol,
        }
    }
}
