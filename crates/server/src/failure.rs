//! Why the server ended or refused a connection, and the `/stats` counter of each reason.

use pushbench_model::protocol::FailureCounter as Counter;
use std::time::Duration;

/// A connection the server ended or refused. The message is what the client is told: the
/// one-line reason of an HTTP answer or the reason of a WebSocket close frame, so it stays
/// short (a close reason must fit in 123 bytes).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// `max_connections` connections were open when this one was accepted.
    #[error("server busy: {0} connections are open, the most it takes")]
    TooManyConnections(usize),
    /// The request head did not arrive within `header_read_timeout`.
    #[error("request head not received within {0:?}")]
    HeaderTimeout(Duration),
    /// Bytes that are not an HTTP/1.1 request head.
    #[error("malformed request")]
    BadRequest,
    /// A request head larger than `max_header_bytes`.
    #[error("request head larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// A `/control/*` request without the configured bearer token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A streaming connection fell more than `max_lag` messages behind the head.
    #[error("slow consumer: {behind} messages behind the head, max_lag is {max_lag}")]
    SlowConsumerLag {
        /// How far behind it was when it next got to send.
        behind: u64,
        /// The limit it exceeded.
        max_lag: u64,
    },
    /// A streaming connection could not send for `stall_timeout` while messages waited.
    #[error("slow consumer: nothing sent for {0:?} while messages were waiting")]
    SlowConsumerStall(Duration),
    /// A WebSocket frame that breaks RFC 6455 (close code 1002).
    #[error("protocol error: {0}")]
    WsProtocol(&'static str),
    /// A WebSocket text message (or close reason) that is not UTF-8 (close code 1007).
    #[error("text is not valid UTF-8")]
    WsInvalidUtf8,
    /// A WebSocket message larger than the server takes (close code 1009).
    #[error("message larger than {0} bytes")]
    WsTooBig(usize),
    /// A WebSocket text message that is not a publish body (close code 1008).
    #[error("not a publish body: {0}")]
    WsBadPublish(pushbench_wire::WireError),
    /// A WebSocket binary message (close code 1003).
    #[error("publish bodies are text frames")]
    WsBinary,
}

impl Failure {
    /// The `/stats` counter this failure adds to.
    pub(crate) fn counter(&self) -> Counter {
        match self {
            Failure::TooManyConnections(_) => Counter::ConnectionsRejected,
            Failure::HeaderTimeout(_) => Counter::HeaderTimeouts,
            Failure::BadRequest => Counter::BadRequests,
            Failure::HeadersTooLarge(_) => Counter::HeadersTooLarge,
            Failure::Unauthorized(_) => Counter::Unauthorized,
            Failure::SlowConsumerLag { .. } | Failure::SlowConsumerStall(_) => {
                Counter::SlowConsumerDisconnects
            }
            Failure::WsProtocol(_) => Counter::WsProtocolErrors,
            Failure::WsInvalidUtf8 => Counter::WsInvalidUtf8,
            Failure::WsTooBig(_) => Counter::WsMessagesTooBig,
            Failure::WsBadPublish(_) => Counter::WsBadPublishes,
            Failure::WsBinary => Counter::WsBinaryMessages,
        }
    }

    /// The WebSocket close code that reports this failure (RFC 6455 §7.4.1).
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            Failure::WsProtocol(_) => 1002,
            Failure::WsBinary => 1003,
            Failure::WsInvalidUtf8 => 1007,
            Failure::WsTooBig(_) => 1009,
            // Slow consumers and bad publish bodies break the server's policy, not the
            // protocol; the HTTP-level failures never reach a WebSocket.
            _ => 1008,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fit_a_close_frame() {
        let failures = [
            Failure::SlowConsumerLag {
                behind: u64::MAX,
                max_lag: u64::MAX,
            },
            Failure::SlowConsumerStall(Duration::from_secs(u64::MAX / 2)),
            Failure::WsProtocol("a continuation frame without a message to continue"),
            Failure::WsTooBig(usize::MAX),
            Failure::WsBadPublish(pushbench_wire::WireError::BadField("payload")),
        ];
        for f in failures {
            let reason = f.to_string();
            assert!(reason.len() <= 123, "{reason}");
            assert!(!reason.contains('\n'), "{reason}");
        }
    }
}
