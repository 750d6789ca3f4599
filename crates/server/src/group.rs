//! One server of several processes sharing a port (SO_REUSEPORT, docs/sharding.md): how a
//! control request reaches every process, and how `/stats` covers all of them.
//!
//! The kernel hands each new connection to one of the processes, the control requests
//! too. The process that receives `POST /control/workload`, `POST /control/stop` or
//! `GET /stats` from a client forwards it to each of its peers' control addresses
//! ([`crate::ServerConfig::peers`]) marked with [`PEER_HEADER`] (`pushbench-peer`), so that a peer applies it
//! to itself only, and answers once every peer has answered: a workload is in place, or a
//! publisher stopped, in every process before the client hears so.
//!
//! So that a subscriber cannot tell which process it reached, every process publishes the
//! same ticks: the receiving process fixes the schedule's start (`pushbench-start-ns`) and, for a
//! stop, the instant before which the last tick falls (`pushbench-stop-at-ns`), both on the
//! shared monotonic clock (`pushbench_wire::clock`, one per host), and hands the same instants
//! to every peer. The ticks, their sequence numbers and their `sent_ns` follow from those
//! two instants and the rate alone.
//!
//! The rejected design, the load generator driving every process's control address itself,
//! would make every client of the control endpoints (the load generator, shards, scripts,
//! a user's curl) know the group; forwarding keeps a multi-process server one address.

use crate::routes::Rejection;
use crate::state::AppState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, HeaderMap};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use pushbench_model::protocol::{
    ConnectionCounts, FailureCounts, PEER_HEADER, PublisherDoc, QueuedDoc, StatsDoc,
};
use pushbench_wire::{now_ns, parse_decimal};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// How far ahead of a forwarded workload's arrival its schedule starts: room for the
/// request to reach every peer before the first tick is due. A peer reached later still
/// publishes the same ticks, the missed ones at once (late, as any late tick).
pub(crate) const START_MARGIN: Duration = Duration::from_millis(20);

/// How far ahead of a forwarded stop's arrival the last tick falls: every peer must have
/// the stop before a tick at or after it is due, or it would publish one tick more than
/// the others. Generous, since a loaded host delays the forwarded request; the stop's
/// answer waits this long.
pub(crate) const STOP_MARGIN: Duration = Duration::from_millis(100);

/// How long a peer may take to answer a forwarded request before the request fails.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// Who a control request is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scope {
    /// A server of one process.
    Alone,
    /// A client's request to a process of a group: forward it to the peers.
    Group,
    /// A request a peer forwarded: for this process only.
    Peer,
}

impl Scope {
    pub(crate) fn of(state: &AppState, headers: &HeaderMap) -> Scope {
        if headers.contains_key(PEER_HEADER) {
            Scope::Peer
        } else if state.config.peers.is_empty() {
            Scope::Alone
        } else {
            Scope::Group
        }
    }
}

/// An instant on the shared clock a forwarded request carries in `name`; `None` when absent.
pub(crate) fn instant(headers: &HeaderMap, name: &str) -> Result<Option<u64>, Rejection> {
    headers
        .get(name)
        .map(|v| {
            parse_decimal(v.as_bytes())
                .ok_or_else(|| Rejection::bad(format!("{name} must be a decimal number of ns")))
        })
        .transpose()
}

/// Where the group's schedule starts, for a workload that arrived now from a client.
pub(crate) fn start_ns() -> u64 {
    now_ns() + START_MARGIN.as_nanos() as u64
}

/// Where the group's last tick falls, for a stop that arrived now from a client.
pub(crate) fn stop_at_ns() -> u64 {
    now_ns() + STOP_MARGIN.as_nanos() as u64
}

/// A control request as it is forwarded: method, path, the instant header, the body.
pub(crate) struct Forward {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) instant: Option<(&'static str, u64)>,
    pub(crate) body: Bytes,
}

/// Sends `f` to every peer at once, and returns their answers' bodies in the order of
/// `peers`; the first peer that fails or does not answer with a success fails the request
/// (`502`, naming it).
pub(crate) async fn forward(state: &AppState, f: Forward) -> Result<Vec<Bytes>, Rejection> {
    let peers = &state.config.peers;
    let mut calls = tokio::task::JoinSet::new();
    for (i, &peer) in peers.iter().enumerate() {
        let req = request(state, &f, peer);
        calls.spawn(async move {
            let answer = match tokio::time::timeout(PEER_TIMEOUT, call(peer, req)).await {
                Ok(Ok(body)) => Ok(body),
                Ok(Err(why)) => Err(format!("peer {peer}: {why}")),
                Err(_) => Err(format!("peer {peer}: no answer within {PEER_TIMEOUT:?}")),
            };
            (i, answer)
        });
    }
    let mut bodies = vec![Bytes::new(); peers.len()];
    while let Some(joined) = calls.join_next().await {
        let (i, answer) =
            joined.map_err(|e| Rejection::peer(format!("a peer call failed: {e}")))?;
        bodies[i] = answer.map_err(Rejection::peer)?;
    }
    Ok(bodies)
}

fn request(state: &AppState, f: &Forward, peer: SocketAddr) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(f.method.clone())
        .uri(f.path)
        .header(hyper::header::HOST, peer.to_string())
        .header(PEER_HEADER, "1");
    if let Some((name, ns)) = f.instant {
        b = b.header(name, ns.to_string());
    }
    if let Some(token) = &state.config.control_token {
        b = b.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    b.body(Full::new(f.body.clone()))
        .expect("a method, a static path and decimal or checked header values make a request")
}

/// One request on a connection of its own; the body of a success, or why not.
async fn call(peer: SocketAddr, req: Request<Full<Bytes>>) -> Result<Bytes, String> {
    let stream = TcpStream::connect(peer)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    conn.abort();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ))
    }
}

/// `/stats` of the whole group from this process's own and its peers'. What every process
/// holds a part of (connections, bytes written, CPU, memory, failures) is summed; what the
/// group does once (a workload set, a tick published) counts as done when every process
/// has done it, the least of their counts. `instance` combines all of them, so it is the
/// same whichever process answers, and changes when any one restarts. Peak RSS is the sum
/// of each process's peak, an upper bound of the group's peak (the peaks need not
/// coincide).
pub(crate) fn sum(mut total: StatsDoc, peers: Vec<StatsDoc>) -> StatsDoc {
    for p in peers {
        total.instance = total.instance.wrapping_add(p.instance);
        total.workloads = total.workloads.min(p.workloads);
        total.connections = add_counts(total.connections, p.connections);
        total.connections_accepted += p.connections_accepted;
        total.messages_published = total.messages_published.min(p.messages_published);
        total.messages_written += p.messages_written;
        total.bytes_written += p.bytes_written;
        total.topic_heads = least_heads(&total.topic_heads, &p.topic_heads);
        total.cpu_seconds += p.cpu_seconds;
        total.rss_bytes += p.rss_bytes;
        total.peak_rss_bytes += p.peak_rss_bytes;
        total.accept_errors += p.accept_errors;
        total.connections_open += p.connections_open;
        total.failures = FailureCounts(std::array::from_fn(|i| {
            total.failures.0[i] + p.failures.0[i]
        }));
        total.publisher = match (total.publisher, p.publisher) {
            (Some(a), Some(b)) => Some(add_publishers(a, b)),
            _ => None,
        };
        total.queued = match (total.queued, p.queued) {
            (Some(a), Some(b)) => Some(QueuedDoc {
                bytes: a.bytes + b.bytes,
                peak_bytes: a.peak_bytes + b.peak_bytes,
            }),
            _ => None,
        };
    }
    total
}

fn add_counts(a: ConnectionCounts, b: ConnectionCounts) -> ConnectionCounts {
    ConnectionCounts {
        by_kind: std::array::from_fn(|i| a.by_kind[i] + b.by_kind[i]),
        other: a.other + b.other,
    }
}

/// Per topic, the head every process has reached. Processes with different topic counts
/// are between two workloads: only the topics both have are reported.
fn least_heads(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| *x.min(y)).collect()
}

/// The group's publisher: the ticks every process has published, the furthest behind, and
/// every process's tick lags together.
fn add_publishers(mut a: PublisherDoc, b: PublisherDoc) -> PublisherDoc {
    a.ticks = a.ticks.min(b.ticks);
    a.behind_us = a.behind_us.max(b.behind_us);
    // Both are auto-resizing histograms of the same precision; adding cannot fail.
    let _ = a.lag_us.0.add(&b.lag_us.0);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_model::transport::TransportKind;

    fn doc(instance: u64, heads: Vec<u64>, open_ws: u64) -> StatsDoc {
        let mut d = StatsDoc {
            instance,
            workloads: instance,
            topic_heads: heads,
            cpu_seconds: 1.5,
            rss_bytes: 1000,
            peak_rss_bytes: 2000,
            connections_open: open_ws as usize,
            ..StatsDoc::default()
        };
        d.connections.by_kind[TransportKind::WebSocket as usize] = open_ws;
        d
    }

    #[test]
    fn parts_add_up_and_shared_counts_take_the_least() {
        let total = sum(
            doc(3, vec![10, 7], 5),
            vec![doc(4, vec![9, 8], 6), doc(5, vec![10, 8, 1], 7)],
        );
        assert_eq!(total.instance, 3 + 4 + 5);
        assert_eq!(total.workloads, 3);
        assert_eq!(total.topic_heads, vec![9, 7]);
        assert_eq!(total.cpu_seconds, 4.5);
        assert_eq!(total.rss_bytes, 3000);
        assert_eq!(total.peak_rss_bytes, 6000);
        assert_eq!(total.connections_open, 18);
        assert_eq!(total.connections.of(TransportKind::WebSocket), 18);
    }

    #[test]
    fn the_instance_is_the_same_whichever_process_answers() {
        let a = sum(
            doc(1, vec![], 0),
            vec![doc(2, vec![], 0), doc(u64::MAX, vec![], 0)],
        );
        let b = sum(
            doc(2, vec![], 0),
            vec![doc(u64::MAX, vec![], 0), doc(1, vec![], 0)],
        );
        assert_eq!(a.instance, b.instance);
    }
}
