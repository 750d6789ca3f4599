//! `GET /raw?topic=T[&cursor=C]` with `Connection: Upgrade` and `Upgrade: pushbench-raw`:
//! the raw stream, the floor every other transport is measured against. After the `101
//! Switching Protocols` the server takes the socket back from hyper and writes each message
//! followed by a newline, and nothing else (`pushbench_wire::raw`).
//!
//! An upgrade rather than a `200` whose body ends at close: hyper frames a body of unknown
//! length in an HTTP/1.1 answer with chunked encoding (unframed only in an HTTP/1.0 one),
//! and a connection taken over after a `101` is the bare socket (`docs/protocol.md`).
//!
//! Like `/ws` it sends from the topic's ring with a cursor of its own, one write per message
//! (so the two differ on the wire by the framing alone), each bounded by the stall timeout,
//! and checks the lag before each. The client sends nothing after its request; whatever it
//! sends is read and dropped, and its end of the connection ends the session.

use super::Exchange;
use crate::body::{BATCH, Batch, Body, lag, release_idle, within};
use crate::failure::Failure;
use crate::hub::Topic;
use crate::routes::{Handled, Rejection, start, topic};
use crate::state::{AppState, ConnSlot};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Response, StatusCode};
use pushbench_wire::raw::UPGRADE;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

pub(super) fn handle(x: Exchange) -> Result<Handled, Rejection> {
    let Exchange {
        state,
        slot,
        query,
        mut req,
    } = x;
    let topic = topic(&state, &query)?;
    let fields = req.headers();
    if !has_token(fields, header::CONNECTION, "upgrade")
        || !has_token(fields, header::UPGRADE, UPGRADE)
    {
        return Err(Rejection::bad(format!(
            "/raw needs Connection: Upgrade and Upgrade: {UPGRADE}"
        )));
    }
    // Like /stream, a reconnecting client may name the last message it saw.
    let (head, cursor) = start(&topic, query.cursor)?;
    let upgrade = hyper::upgrade::on(&mut req);
    drop(req);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let mut fields = HeaderMap::with_capacity(2);
    fields.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    fields.insert(header::UPGRADE, HeaderValue::from_static(UPGRADE));
    *resp.headers_mut() = fields;
    state.add_response_headers(resp.headers_mut());
    tokio::spawn(session(upgrade, topic, head, cursor, state, slot));
    Ok(Handled::now(resp))
}

/// Whether a field of `name` lists `token` (RFC 9110 §5.6.1: comma-separated, any case).
fn has_token(fields: &HeaderMap, name: HeaderName, token: &str) -> bool {
    fields.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Runs the connection once the `101` is out. `head` was subscribed and `cursor` read while
/// handling the request, so every message published after the client sees the `101` is
/// delivered. `slot` keeps the connection counted in `/stats` while the socket lives.
async fn session(
    upgrade: OnUpgrade,
    topic: Arc<Topic>,
    head: watch::Receiver<u64>,
    cursor: u64,
    state: Arc<AppState>,
    slot: Arc<ConnSlot>,
) {
    let Ok(upgraded) = upgrade.await else { return };
    // What the client sent after its request is dropped unread, like the rest of its input.
    let Some((socket, _early)) = crate::take_over(upgraded) else {
        return;
    };
    let (read, write) = socket.into_split();
    let mut raw = Raw {
        write,
        read,
        topic,
        head,
        cursor,
        state,
    };
    raw.run().await;
    // Dropping the socket closes it: the kernel sends what is still queued, then the FIN,
    // so a client reads every whole line the server wrote and then the end. On shutdown and
    // for a client too far behind that end comes after a whole line; after a stall, wherever
    // the write was cut off.
    drop(raw);
    drop(slot);
}

/// One raw stream after its upgrade.
struct Raw {
    write: OwnedWriteHalf,
    /// Read only to notice the client leaving; what it sends is dropped.
    read: OwnedReadHalf,
    topic: Arc<Topic>,
    head: watch::Receiver<u64>,
    /// The seq of the last message sent.
    cursor: u64,
    state: Arc<AppState>,
}

impl Raw {
    /// Sends every message after `cursor` until the client leaves, falls too far behind or
    /// stalls, or the server shuts down.
    async fn run(&mut self) {
        // Lag counts from the head at the start, as for streams: a client resuming from an
        // old cursor asked for that replay.
        let lag_floor = self.topic.head();
        let mut batch = Batch::new();
        // What the client sends is dropped; a small buffer, since it should send nothing.
        let mut dropped = [0u8; 64];
        loop {
            if self.state.shutdown.is_cancelled() {
                return;
            }
            if self.cursor < self.topic.head() {
                self.topic.read_some(self.cursor, BATCH, |m| {
                    batch.push_back((m.seq(), m.line().clone()));
                });
                for (seq, line) in batch.drain(..) {
                    if let Err(failure) = self.send(&line, lag_floor).await {
                        if let Some(f) = failure {
                            self.state.stats.failed(&f);
                        }
                        return;
                    }
                    self.cursor = seq;
                }
                continue;
            }
            release_idle(&mut batch);
            tokio::select! {
                biased;
                _ = self.state.shutdown.cancelled() => return,
                changed = self.head.changed() => if changed.is_err() { return },
                // Cancel-safe: a read either took bytes or did not start.
                n = self.read.read(&mut dropped) => if !matches!(n, Ok(n) if n > 0) { return },
            }
        }
    }

    /// Writes one message's line (the envelope and `\n`, as the hub encoded it), unless the
    /// connection is more than `max_lag` behind the head. Err(Some) is the slow-consumer
    /// failure that ends it, Err(None) a client gone.
    async fn send(&mut self, line: &[u8], lag_floor: u64) -> Result<(), Option<Failure>> {
        let behind = lag(&self.topic, self.cursor, lag_floor);
        if behind > self.state.max_lag {
            return Err(Some(Failure::SlowConsumerLag {
                behind,
                max_lag: self.state.max_lag,
            }));
        }
        let limit = self.state.config.stall_timeout;
        match within(limit, self.write.write_all(line)).await {
            Some(Ok(())) => {
                // The line is the whole cost: nothing frames it.
                self.state.stats.wrote(1, line.len() as u64);
                Ok(())
            }
            Some(Err(_)) => Err(None),
            None => Err(Some(Failure::SlowConsumerStall(limit))),
        }
    }
}
