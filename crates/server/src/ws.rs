//! `/ws`: one unmasked text frame per message; client text frames are publish bodies.
//!
//! fastwebsockets' `read_frame` is not cancel-safe (it consumes the frame header from its
//! buffer before awaiting the rest of the frame, and may be mid-way through writing a pong),
//! so it never runs inside `select!`. The socket is split: a reader task owns the read half
//! and hands the frames it must answer (pong, close) to the writer over a small channel; the
//! writer waits on that channel, the topic and the shutdown token, all of which are
//! cancel-safe, and is the only one that writes.
//!
//! The reader task (with fastwebsockets' 8 KiB read buffer and its own large future) is
//! started only once the client sends something: until then the writer waits for the
//! socket to become readable, which is cancel-safe too. A broadcast subscriber usually
//! sends nothing but its close frame, so an idle WebSocket costs one small task.
//!
//! What fastwebsockets 0.10 checks on its own, and what this module adds:
//! - reserved bits, reserved opcodes, fragmented or oversized (> 125 bytes) pings, and
//!   frames of `max_message_size` bytes or more are errors of `read_frame`; they are mapped
//!   to close codes in [`classify`]. Its size check is `>=`, hence the `+ 1` below.
//! - it validates UTF-8 only in unfragmented text frames; fragmented messages are put
//!   together here (its `FragmentCollector` has no limit on the whole message) and checked
//!   once complete.
//! - it keeps a frame's mask private and accepts unmasked client frames, which RFC 6455
//!   §5.1 forbids: [`MaskCheck`] follows the frame headers in the byte stream to catch them.
//! - its automatic close answer echoes whatever the client sent, even a reason too long for
//!   a control frame; the server answers close frames itself (auto-close off).

use crate::body::{BATCH, Batch, lag, release_idle, within};
use crate::failure::Failure;
use crate::hub::{Subscription, Topic};
use crate::state::{AppState, ConnSlot};
use bytes::Bytes;
use fastwebsockets::{
    CloseCode, Frame, OpCode, Payload, Role, WebSocketError, WebSocketRead, WebSocketWrite,
    after_handshake_split, upgrade::UpgradeFut,
};
use pushbench_wire::ws::frame_bytes;
use pushbench_wire::{PUBLISH_HEADER_LEN, parse_publish};
use std::io::{self, Cursor};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, Chain, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the reader reads: what the client sent along with its handshake (which hyper had
/// already read), then the socket.
type ClientBytes = Chain<Cursor<Bytes>, OwnedReadHalf>;

/// Close code for a server going away (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;

/// Replies the reader may queue for the writer. Small: when the writer cannot send (its
/// client does not read), the reader stops reading, and TCP pushes back on the client
/// instead of the server queueing pongs for it.
const REPLY_QUEUE: usize = 8;

/// The largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What the reader asks the writer to send.
enum Reply {
    Pong(Bytes),
    /// The answer to the client's close frame; the writer sends it and stops.
    CloseAnswer(Bytes),
    /// The client broke a rule; the writer sends the close frame and stops, and the
    /// connection is failed (RFC 6455 §7.1.7): closed without waiting for an answer.
    Fail(Failure),
}

/// How the writer ended.
enum WriterEnd {
    /// The client closed, answered or not, or its socket failed: nothing more to wait for.
    Done,
    /// The server sent a close frame first and should wait for the client's answer.
    ServerClosed,
    /// The server sent a close frame for a broken rule and closes without a handshake.
    Failed,
    /// A write did not complete in time: the socket cannot even take a close frame.
    Stalled,
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
        // Owning the socket itself (rather than hyper's boxed stream) is what lets the
        // session wait for the client to send without reading.
        let Some((socket, early)) = crate::take_over(ws.into_inner().into_inner()) else {
            return;
        };
        let (read, mut write_half) = socket.into_split();
        let mut reading = Reading::Idle(read, early);
        if reading.has_early_bytes() {
            reading.start(&topic, &state);
        }
        // fastwebsockets never gives a stream back, and the write half is needed again to
        // end the connection properly, so it writes through a borrow (the read side is a
        // placeholder: the reader task makes its own).
        let (_, write) = after_handshake_split(tokio::io::empty(), &mut write_half, Role::Server);
        let mut writer = Writer {
            write,
            subscription: Subscription::new(topic.clone(), cursor),
            topic,
            head,
            cursor,
            state: &state,
            reading,
        };
        let end = writer.run().await;
        let Writer { topic, reading, .. } = writer;
        let grace = state.config.ws_close_timeout;
        let answer_due = matches!(end, WriterEnd::ServerClosed | WriterEnd::Failed);
        let mut reader = reading.into_task(answer_due, &topic, &state);
        match (end, reader.as_mut()) {
            (WriterEnd::ServerClosed, Some(reader)) => {
                // Give the client a moment to answer our close frame, then drop it anyway.
                let _ = tokio::time::timeout(grace, reader).await;
            }
            (WriterEnd::Failed, Some(reader)) => {
                // No handshake, but end our side with a FIN and let the reader drain the
                // client's input until it closes too: closing a socket with unread input
                // sends a reset, which can destroy the close frame before it is read.
                let _ = tokio::time::timeout(grace, async {
                    let _ = write_half.shutdown().await;
                    let _ = reader.await;
                })
                .await;
            }
            _ => {}
        }
        // Dropping both halves closes the socket; a reader left running would keep it open.
        if let Some(reader) = reader {
            reader.abort();
        }
        drop(slot);
    }
}

/// The reading side of a session.
enum Reading {
    /// The client has sent nothing since its handshake but these bytes (usually none).
    Idle(OwnedReadHalf, Bytes),
    /// The reader task runs and asks the writer for answers over the channel.
    Running(JoinHandle<()>, mpsc::Receiver<Reply>),
    /// Only while switching from `Idle` to `Running`.
    Starting,
}

fn spawn_reader(
    read: OwnedReadHalf,
    early: Bytes,
    topic: &Arc<Topic>,
    state: &Arc<AppState>,
) -> (JoinHandle<()>, mpsc::Receiver<Reply>) {
    let bytes = Cursor::new(early).chain(read);
    let (reply_tx, reply_rx) = mpsc::channel(REPLY_QUEUE);
    let task = tokio::spawn(read_loop(bytes, topic.clone(), state.clone(), reply_tx));
    (task, reply_rx)
}

/// What the client did, as the writer sees it.
enum ClientEvent {
    /// It sent its first bytes (or closed, or its socket failed): time to read.
    Sent,
    /// The reader's next request; None once the reader has ended.
    Reply(Option<Reply>),
}

impl Reading {
    fn has_early_bytes(&self) -> bool {
        matches!(self, Reading::Idle(_, early) if !early.is_empty())
    }

    /// Starts the reader task if it is not running yet.
    fn start(&mut self, topic: &Arc<Topic>, state: &Arc<AppState>) {
        if let Reading::Idle(read, early) = std::mem::replace(self, Reading::Starting) {
            let (task, replies) = spawn_reader(read, early, topic, state);
            *self = Reading::Running(task, replies);
        }
    }

    /// The reader task once the writer is done, started now if the session still has the
    /// client's `answer_due`; its requests go unanswered from now on.
    fn into_task(
        self,
        answer_due: bool,
        topic: &Arc<Topic>,
        state: &Arc<AppState>,
    ) -> Option<JoinHandle<()>> {
        match self {
            Reading::Running(task, _) => Some(task),
            Reading::Idle(read, early) if answer_due => {
                Some(spawn_reader(read, early, topic, state).0)
            }
            Reading::Idle(..) | Reading::Starting => None,
        }
    }

    /// A request the reader has already made, without waiting.
    fn try_reply(&mut self) -> Result<Reply, TryRecvError> {
        match self {
            Reading::Running(_, replies) => replies.try_recv(),
            Reading::Idle(..) | Reading::Starting => Err(TryRecvError::Empty),
        }
    }

    /// Waits for the client to do something. Cancel-safe.
    async fn next(&mut self) -> ClientEvent {
        match self {
            // An error is seen again by the reader, which knows what to make of it.
            Reading::Idle(read, _) => {
                let _ = read.readable().await;
                ClientEvent::Sent
            }
            Reading::Running(_, replies) => ClientEvent::Reply(replies.recv().await),
            Reading::Starting => std::future::pending().await,
        }
    }
}

/// The writing half of a session.
struct Writer<'a> {
    write: WebSocketWrite<&'a mut OwnedWriteHalf>,
    topic: Arc<Topic>,
    head: watch::Receiver<u64>,
    /// The seq of the last message sent.
    cursor: u64,
    /// `cursor` again, in the topic's count of what subscribers are owed.
    subscription: Subscription,
    state: &'a Arc<AppState>,
    reading: Reading,
}

/// Why a frame could not be sent.
enum SendError {
    Gone,
    Stalled,
}

impl Writer<'_> {
    /// Sends every message after `cursor` until the client, the reader or the server ends
    /// the connection.
    async fn run(&mut self) -> WriterEnd {
        // Lag counts from the head at the start, as for streams: a client resuming from an
        // old cursor asked for that replay, and must not be cut off as a slow consumer for it.
        let lag_floor = self.topic.head();
        let mut batch = Batch::new();
        loop {
            // Between batches, without waiting: answers and shutdown must not queue behind a
            // backlog of messages.
            match self.reading.try_reply() {
                Ok(reply) => match self.answer(reply).await {
                    Some(end) => return end,
                    None => continue,
                },
                Err(TryRecvError::Disconnected) => return WriterEnd::Done,
                Err(TryRecvError::Empty) => {}
            }
            if self.state.shutdown.is_cancelled() {
                return self.close(GOING_AWAY, "server shutting down").await;
            }
            if self.cursor < self.topic.head() {
                self.topic.read_some(self.cursor, BATCH, |m| {
                    batch.push_back((m.seq(), m.line().clone()));
                });
                for (seq, line) in batch.drain(..) {
                    let behind = lag(&self.topic, self.cursor, lag_floor);
                    if behind > self.state.max_lag {
                        let failure = Failure::SlowConsumerLag {
                            behind,
                            max_lag: self.state.max_lag,
                        };
                        self.state.stats.failed(&failure);
                        return self.fail(&failure).await;
                    }
                    let envelope = crate::hub::envelope(&line);
                    let frame = Frame::text(Payload::Borrowed(envelope));
                    match self.send(frame).await {
                        Ok(()) => {}
                        Err(SendError::Gone) => return WriterEnd::Done,
                        Err(SendError::Stalled) => return self.stalled(),
                    }
                    self.cursor = seq;
                    self.subscription.advance(seq);
                    self.state
                        .stats
                        .wrote(1, frame_bytes(envelope.len(), false));
                }
                continue;
            }
            release_idle(&mut batch);
            tokio::select! {
                biased;
                _ = self.state.shutdown.cancelled() => {}
                event = self.reading.next() => match event {
                    ClientEvent::Sent => self.reading.start(&self.topic, self.state),
                    ClientEvent::Reply(Some(reply)) => {
                        if let Some(end) = self.answer(reply).await {
                            return end;
                        }
                    }
                    // The reader ended without a close frame: the client is gone.
                    ClientEvent::Reply(None) => return WriterEnd::Done,
                },
                changed = self.head.changed() => if changed.is_err() { return WriterEnd::Done },
            }
        }
    }

    /// Sends a frame, giving up when the client has not taken it within `stall_timeout`.
    async fn send(&mut self, frame: Frame<'_>) -> Result<(), SendError> {
        match within(
            self.state.config.stall_timeout,
            self.write.write_frame(frame),
        )
        .await
        {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(SendError::Gone),
            None => Err(SendError::Stalled),
        }
    }

    fn stalled(&self) -> WriterEnd {
        let failure = Failure::SlowConsumerStall(self.state.config.stall_timeout);
        self.state.stats.failed(&failure);
        WriterEnd::Stalled
    }

    /// Acts on a reader's request; Some when the connection is over.
    async fn answer(&mut self, reply: Reply) -> Option<WriterEnd> {
        match reply {
            Reply::Pong(p) => match self.send(Frame::pong(Payload::Borrowed(&p))).await {
                Ok(()) => None,
                Err(SendError::Gone) => Some(WriterEnd::Done),
                Err(SendError::Stalled) => Some(self.stalled()),
            },
            Reply::CloseAnswer(p) => {
                let frame = Frame::close_raw(Payload::Borrowed(&p));
                let grace = self.state.config.ws_close_timeout;
                let _ = within(grace, self.write.write_frame(frame)).await;
                Some(WriterEnd::Done)
            }
            // Counted by the reader, which found it.
            Reply::Fail(failure) => Some(match self.fail(&failure).await {
                WriterEnd::ServerClosed => WriterEnd::Failed,
                end => end,
            }),
        }
    }

    async fn fail(&mut self, failure: &Failure) -> WriterEnd {
        self.close(failure.close_code(), &failure.to_string()).await
    }

    /// Sends a close frame; the client has `ws_close_timeout` to take it.
    async fn close(&mut self, code: u16, reason: &str) -> WriterEnd {
        // A close frame carries at most 125 bytes: the code and 123 of reason (all ASCII).
        let reason = &reason.as_bytes()[..reason.len().min(MAX_CONTROL_PAYLOAD - 2)];
        let grace = self.state.config.ws_close_timeout;
        match within(grace, self.write.write_frame(Frame::close(code, reason))).await {
            Some(Ok(())) => WriterEnd::ServerClosed,
            Some(Err(_)) | None => WriterEnd::Done,
        }
    }
}

/// Reads the client's frames until it closes or breaks a rule; in the latter case asks the
/// writer to close with the matching code and then drains the socket until the client
/// closes it (the session bounds how long).
async fn read_loop(
    read: ClientBytes,
    topic: Arc<Topic>,
    state: Arc<AppState>,
    replies: mpsc::Sender<Reply>,
) {
    let mut guarded = MaskCheck::new(read);
    let (mut ws, _) = after_handshake_split(&mut guarded, tokio::io::sink(), Role::Server);
    ws.set_auto_close(false);
    ws.set_max_message_size(state.config.ws_max_message_bytes.saturating_add(1));
    let Err(failure) = read_messages(&mut ws, &topic, &state, &replies).await else {
        return;
    };
    drop(ws);
    state.stats.failed(&failure);
    if replies.send(Reply::Fail(failure)).await.is_err() {
        return;
    }
    // Whatever comes now, frames or not, is only read to be dropped.
    let mut raw = guarded.into_inner();
    let mut sink = [0u8; 4096];
    while matches!(raw.read(&mut sink).await, Ok(n) if n > 0) {}
}

type WsRead<'a> = WebSocketRead<&'a mut MaskCheck<ClientBytes>>;

/// Publishes the client's messages and answers its close frame; Err is the rule the client
/// broke.
async fn read_messages(
    ws: &mut WsRead<'_>,
    topic: &Topic,
    state: &AppState,
    replies: &mpsc::Sender<Reply>,
) -> Result<(), Failure> {
    // fastwebsockets produces pongs here; they go to the writer.
    let mut obligated = |frame: Frame<'_>| {
        let reply = Reply::Pong(Bytes::copy_from_slice(&frame.payload));
        async move {
            replies
                .send(reply)
                .await
                .map_err(|_| WebSocketError::ConnectionClosed)
        }
    };
    let max = state.config.ws_max_message_bytes;
    // The fragments of a text message in progress, None between messages.
    let mut message: Option<Vec<u8>> = None;
    loop {
        let frame = match ws.read_frame(&mut obligated).await {
            Ok(frame) => frame,
            Err(e) => return classify(e, max).map_or(Ok(()), Err),
        };
        match frame.opcode {
            OpCode::Text | OpCode::Binary if message.is_some() => {
                return Err(Failure::WsProtocol(
                    "a new message before the last one ended",
                ));
            }
            OpCode::Binary => return Err(Failure::WsBinary),
            // fastwebsockets has checked that it is UTF-8.
            OpCode::Text if frame.fin => publish(topic, state, &frame.payload)?,
            OpCode::Text => message = Some(frame.payload.to_vec()),
            OpCode::Continuation => {
                let Some(buf) = message.as_mut() else {
                    return Err(Failure::WsProtocol(
                        "a continuation frame without a message",
                    ));
                };
                if buf.len() + frame.payload.len() > max {
                    return Err(Failure::WsTooBig(max));
                }
                buf.extend_from_slice(&frame.payload);
                if frame.fin {
                    let whole = message.take().unwrap_or_default();
                    if std::str::from_utf8(&whole).is_err() {
                        return Err(Failure::WsInvalidUtf8);
                    }
                    publish(topic, state, &whole)?;
                }
            }
            OpCode::Close => {
                let answer = close_answer(&frame.payload)?;
                // The writer may be gone already; the client closed either way.
                let _ = replies.send(Reply::CloseAnswer(answer)).await;
                return Ok(());
            }
            OpCode::Pong if frame.payload.len() > MAX_CONTROL_PAYLOAD => {
                return Err(Failure::WsProtocol("a control frame over 125 bytes"));
            }
            // Pings were answered through `obligated`; unsolicited pongs need nothing.
            OpCode::Ping | OpCode::Pong => {}
        }
    }
}

fn publish(topic: &Topic, state: &AppState, body: &[u8]) -> Result<(), Failure> {
    let sent_ns = parse_publish(body).map_err(Failure::WsBadPublish)?;
    let payload = &body[PUBLISH_HEADER_LEN..];
    if payload.len() > topic.max_payload() {
        return Err(Failure::WsTooBig(PUBLISH_HEADER_LEN + topic.max_payload()));
    }
    topic.publish(sent_ns, payload);
    state.stats.messages_published.fetch_add(1, Relaxed);
    Ok(())
}

/// Checks a client's close frame (RFC 6455 §5.5.1, §7.4) and returns the payload of the
/// answer: its status code, without the reason.
fn close_answer(payload: &[u8]) -> Result<Bytes, Failure> {
    match payload.len() {
        0 => return Ok(Bytes::new()),
        1 => return Err(Failure::WsProtocol("a close frame with a 1-byte payload")),
        n if n > MAX_CONTROL_PAYLOAD => {
            return Err(Failure::WsProtocol("a control frame over 125 bytes"));
        }
        _ => {}
    }
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    if !CloseCode::from(code).is_allowed() {
        return Err(Failure::WsProtocol("a close code that may not be sent"));
    }
    if std::str::from_utf8(&payload[2..]).is_err() {
        return Err(Failure::WsInvalidUtf8);
    }
    Ok(Bytes::copy_from_slice(&payload[..2]))
}

/// The failure a fastwebsockets read error reports; None when the client simply went away
/// (or the writer did).
fn classify(e: WebSocketError, max: usize) -> Option<Failure> {
    let protocol = |what| Some(Failure::WsProtocol(what));
    match e {
        WebSocketError::InvalidUTF8 => Some(Failure::WsInvalidUtf8),
        WebSocketError::FrameTooLarge => Some(Failure::WsTooBig(max)),
        WebSocketError::ReservedBitsNotZero => protocol("reserved bits set"),
        WebSocketError::InvalidValue => protocol("a reserved opcode"),
        WebSocketError::ControlFrameFragmented => protocol("a fragmented control frame"),
        WebSocketError::PingFrameTooLarge => protocol("a control frame over 125 bytes"),
        WebSocketError::InvalidFragment | WebSocketError::InvalidContinuationFrame => {
            protocol("a bad continuation frame")
        }
        WebSocketError::InvalidCloseFrame | WebSocketError::InvalidCloseCode => {
            protocol("a bad close frame")
        }
        WebSocketError::IoError(e) if e.get_ref().is_some_and(|e| e.is::<Unmasked>()) => {
            protocol("an unmasked client frame")
        }
        _ => None,
    }
}

/// The error [`MaskCheck`] raises.
#[derive(Debug, thiserror::Error)]
#[error("an unmasked client frame")]
struct Unmasked;

/// Where [`MaskCheck`] is in the frame stream.
#[derive(Clone, Copy)]
enum Position {
    /// Inside a frame header, of which `have` bytes are in `head`.
    Header { head: [u8; 10], have: usize },
    /// Inside a payload, with `left` bytes still to come.
    Payload { left: u64 },
}

/// Passes the client's bytes through while following the frame headers in them, and fails
/// the read that brings an unmasked frame header.
struct MaskCheck<R> {
    inner: R,
    at: Position,
}

impl<R> MaskCheck<R> {
    fn new(inner: R) -> Self {
        MaskCheck {
            inner,
            at: Position::Header {
                head: [0; 10],
                have: 0,
            },
        }
    }

    fn into_inner(self) -> R {
        self.inner
    }

    fn scan(&mut self, mut bytes: &[u8]) -> Result<(), Unmasked> {
        while !bytes.is_empty() {
            match &mut self.at {
                Position::Payload { left } => {
                    let n = (*left).min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    *left -= n;
                    if *left == 0 {
                        self.at = Position::Header {
                            head: [0; 10],
                            have: 0,
                        };
                    }
                }
                Position::Header { head, have } => {
                    head[*have] = bytes[0];
                    *have += 1;
                    bytes = &bytes[1..];
                    if *have < 2 {
                        continue;
                    }
                    if head[1] & 0x80 == 0 {
                        return Err(Unmasked);
                    }
                    let extra = match head[1] & 0x7f {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    if *have < 2 + extra {
                        continue;
                    }
                    let len = match extra {
                        0 => u64::from(head[1] & 0x7f),
                        _ => head[2..2 + extra]
                            .iter()
                            .fold(0, |n, &b| (n << 8) | u64::from(b)),
                    };
                    // The 4-byte masking key counts as payload here: it needs no checking.
                    self.at = Position::Payload {
                        left: len.saturating_add(4),
                    };
                }
            }
        }
        Ok(())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for MaskCheck<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.scan(&buf.filled()[before..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(len_bytes: &[u8], payload_len: usize) -> Vec<u8> {
        let mut f = vec![0x81];
        f.extend_from_slice(len_bytes);
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(b'x', payload_len));
        f
    }

    #[test]
    fn mask_check_follows_frames_of_every_length_encoding() {
        let mut stream = masked(&[0x80 | 5], 5);
        stream.extend(masked(&[0x80 | 126, 0x01, 0x00], 256));
        stream.extend(masked(&[0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0], 65_536));
        stream.extend(masked(&[0x80], 0));
        // Fed whole, and one byte at a time.
        assert!(MaskCheck::new(()).scan(&stream).is_ok());
        let mut check = MaskCheck::new(());
        for b in &stream {
            assert!(check.scan(std::slice::from_ref(b)).is_ok());
        }
        // An unmasked frame after all that is caught, even split after its first byte.
        assert!(check.scan(&[0x81]).is_ok());
        assert!(check.scan(&[0x05]).is_err());
    }

    #[test]
    fn close_answers_echo_the_code_and_refuse_bad_frames() {
        assert_eq!(close_answer(b"").unwrap(), Bytes::new());
        let normal = [&1000u16.to_be_bytes()[..], b"bye"].concat();
        assert_eq!(&close_answer(&normal).unwrap()[..], &1000u16.to_be_bytes());
        assert!(matches!(close_answer(b"x"), Err(Failure::WsProtocol(_))));
        let reserved = 1005u16.to_be_bytes();
        assert!(matches!(
            close_answer(&reserved),
            Err(Failure::WsProtocol(_))
        ));
        let bad_utf8 = [&1000u16.to_be_bytes()[..], &[0xff, 0xfe]].concat();
        assert!(matches!(
            close_answer(&bad_utf8),
            Err(Failure::WsInvalidUtf8)
        ));
        let long = [&1000u16.to_be_bytes()[..], &[b'a'; 124]].concat();
        assert!(matches!(close_answer(&long), Err(Failure::WsProtocol(_))));
    }
}
