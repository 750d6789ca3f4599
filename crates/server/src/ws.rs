//! `/ws`: one unmasked text frame per message; client text frames are publish bodies.
//!
//! fastwebsockets' `read_frame` is not cancel-safe (it consumes the frame header from its
//! buffer before awaiting the rest of the frame, and may be mid-way through writing a pong),
//! so it never runs inside `select!`. The socket is split: a reader task owns the read half
//! and hands the frames it must answer (pong, close) to the writer over a channel; the
//! writer waits on that channel, the topic and the shutdown token, all of which are
//! cancel-safe, and is the only one that writes.

use crate::hub::Topic;
use crate::state::{AppState, ConnSlot};
use bytes::Bytes;
use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError, WebSocketWrite,
    upgrade::UpgradeFut,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use pushbench_wire::{PUBLISH_HEADER_LEN, parse_publish};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::WriteHalf;
use tokio::sync::{mpsc, watch};

type Io = TokioIo<Upgraded>;

/// Close codes (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED_DATA: u16 = 1003;
const POLICY_VIOLATION: u16 = 1008;

/// How long a server-initiated close waits for the client's answering close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the reader asks the writer to send.
enum Reply {
    Pong(Bytes),
    /// A close frame; the writer sends it and stops.
    Close(Bytes),
}

/// Everything a WebSocket connection needs once the 101 answer is on its way.
pub(crate) struct WsSession {
    pub(crate) upgrade: UpgradeFut,
    pub(crate) topic: Arc<Topic>,
    /// Subscribed, and `cursor` read, while handling the upgrade request, so every message
    /// published after the client sees the 101 is delivered.
    pub(crate) head: watch::Receiver<u64>,
    pub(crate) cursor: u64,
    pub(crate) state: Arc<AppState>,
    /// Keeps the connection counted while the upgraded socket lives.
    pub(crate) slot: Arc<ConnSlot>,
}

impl WsSession {
    /// Runs the connection to its end. Errors are the client's doing (or its absence) and
    /// end only this connection.
    pub(crate) async fn run(self) {
        let WsSession {
            upgrade,
            topic,
            head,
            cursor,
            state,
            slot,
        } = self;
        let Ok(ws) = upgrade.await else { return };
        let (read, write) = ws.split(tokio::io::split);
        let (reply_tx, reply_rx) = mpsc::channel(8);
        let reader = tokio::spawn(read_loop(
            FragmentCollectorRead::new(read),
            topic.clone(),
            state.clone(),
            reply_tx,
        ));
        let server_closed = write_loop(write, topic, head, cursor, &state, reply_rx).await;
        if server_closed {
            // Give the client a moment to answer our close frame before the socket drops.
            let _ = tokio::time::timeout(CLOSE_GRACE, reader).await;
        } else {
            reader.abort();
        }
        drop(slot);
    }
}

async fn read_loop(
    mut read: FragmentCollectorRead<tokio::io::ReadHalf<Io>>,
    topic: Arc<Topic>,
    state: Arc<AppState>,
    replies: mpsc::Sender<Reply>,
) {
    // fastwebsockets produces pong and close answers here; they go to the writer.
    let mut obligated = |frame: Frame<'_>| {
        let payload = Bytes::copy_from_slice(&frame.payload);
        let reply = match frame.opcode {
            OpCode::Close => Reply::Close(payload),
            _ => Reply::Pong(payload),
        };
        let replies = replies.clone();
        async move {
            replies
                .send(reply)
                .await
                .map_err(|_| WebSocketError::ConnectionClosed)
        }
    };
    loop {
        let frame = match read.read_frame(&mut obligated).await {
            Ok(frame) => frame,
            Err(_) => return,
        };
        match frame.opcode {
            OpCode::Text => match parse_publish(&frame.payload) {
                Ok(sent_ns) => {
                    topic.publish(sent_ns, &frame.payload[PUBLISH_HEADER_LEN..]);
                    state.stats.messages_published.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    let reason = format!("not a publish body: {e}");
                    let _ = replies.send(close_payload(POLICY_VIOLATION, &reason)).await;
                    return;
                }
            },
            OpCode::Binary => {
                let reason = "publish bodies are text frames";
                let _ = replies.send(close_payload(UNSUPPORTED_DATA, reason)).await;
                return;
            }
            // The close answer was already handed to the writer by `obligated`.
            OpCode::Close => return,
            _ => {}
        }
    }
}

fn close_payload(code: u16, reason: &str) -> Reply {
    // A close reason must fit a 125-byte control frame together with the 2-byte code.
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    Reply::Close(Bytes::from([&code.to_be_bytes()[..], reason].concat()))
}

/// Sends every message after `cursor` until the client, the reader or the server ends the
/// connection. Returns true when the server sent the close frame first (shutdown) and
/// should wait for the client's answer.
async fn write_loop(
    mut write: WebSocketWrite<WriteHalf<Io>>,
    topic: Arc<Topic>,
    mut head: watch::Receiver<u64>,
    mut cursor: u64,
    state: &AppState,
    mut replies: mpsc::Receiver<Reply>,
) -> bool {
    let mut batch = Vec::new();
    loop {
        cursor = topic.read_after(cursor, |m| batch.push(m.line().clone()));
        for line in batch.drain(..) {
            let envelope = crate::hub::envelope(&line);
            let frame = Frame::text(Payload::Borrowed(envelope));
            if write.write_frame(frame).await.is_err() {
                return false;
            }
            state.stats.wrote(1, frame_cost(envelope.len()));
        }
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => {
                let _ = write.write_frame(Frame::close(GOING_AWAY, b"server shutting down")).await;
                return true;
            }
            reply = replies.recv() => match reply {
                Some(Reply::Pong(p)) => {
                    if write.write_frame(Frame::pong(Payload::Borrowed(&p))).await.is_err() {
                        return false;
                    }
                }
                Some(Reply::Close(p)) => {
                    let _ = write.write_frame(Frame::close_raw(Payload::Borrowed(&p))).await;
                    return false;
                }
                // The reader ended without a close frame: the client is gone.
                None => return false,
            },
            changed = head.changed() => if changed.is_err() { return false },
        }
    }
}

/// Bytes on the wire for a server frame with `m` payload bytes (RFC 6455 §5.2).
pub(crate) fn frame_cost(m: usize) -> u64 {
    let head = match m {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    head + m as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn frame_cost_follows_rfc6455() {
        assert_eq!(super::frame_cost(125), 127);
        assert_eq!(super::frame_cost(126), 130);
        assert_eq!(super::frame_cost(65_535), 65_539);
        assert_eq!(super::frame_cost(65_536), 65_546);
    }
}
