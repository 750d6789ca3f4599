//! The control contract between a server and the load generator (`docs/protocol.md`): the
//! endpoints' paths, the body of `POST /control/workload`, the `/stats` document, the limits
//! a workload must keep and the defaults both sides assume. The server answers with these
//! types and the load generator reads and writes the same ones, so the contract is written
//! once.

use crate::scenario::Field;
use crate::transport::TransportKind;
use pushbench_wire::headers::{Direction, FieldError, check_fields};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// `POST /publish?topic=T`: a client publishes a message (the echo pattern over HTTP).
pub const PUBLISH_PATH: &str = "/publish";
/// `POST /control/workload`: replaces the topics and starts the publisher.
pub const WORKLOAD_PATH: &str = "/control/workload";
/// `POST /control/stop`: stops the publisher.
pub const STOP_PATH: &str = "/control/stop";
/// `GET /stats`: the server's counters ([`StatsDoc`]).
pub const STATS_PATH: &str = "/stats";
/// `GET /echo`: a plain WebSocket echo, every message sent back as it came, no topic in
/// between.
pub const ECHO_PATH: &str = "/echo";
/// `GET /`: the live page, a browser client of every push transport (`docs/protocol.md`).
pub const PAGE_PATH: &str = "/";
/// `GET /clock`: the server's clock (`CLOCK_MONOTONIC`, the timeline of every `sent_ns`), for
/// a client on another clock to estimate its offset.
pub const CLOCK_PATH: &str = "/clock";

/// On a control request one process of a multi-process server forwards to the others
/// (docs/sharding.md): "apply this here only, do not forward it again". Its value is
/// ignored.
pub const PEER_HEADER: &str = "pushbench-peer";
/// On a forwarded `POST /control/workload`: the publisher's schedule starts at this instant
/// of the shared monotonic clock (ns), the same in every process.
pub const START_HEADER: &str = "pushbench-start-ns";
/// On a forwarded `POST /control/stop`: the publisher publishes the ticks due before this
/// instant of the shared monotonic clock (ns) and no later one, the same in every process.
pub const STOP_AT_HEADER: &str = "pushbench-stop-at-ns";
/// On `GET /stats`: report the topic heads as they were at this instant of the server's
/// monotonic clock (ns): the newest message due at or before it. The load generator names
/// its window's edges, so a reading answered late on a loaded host does not count the ticks
/// published meanwhile; a process of a group forwards the instant (or the one it received
/// the request at) to the others, so every process's part is read as of one instant.
pub const HEADS_AT_HEADER: &str = "pushbench-heads-at-ns";

/// Messages a server retains per topic unless told otherwise.
pub const DEFAULT_RING_CAPACITY: usize = 4096;
/// How long a long poll is held when the request names no `timeout`, and the scenario
/// default of `timeout`: 30 s, as RFC 6202 advises.
pub const DEFAULT_LONGPOLL_TIMEOUT: Duration = Duration::from_secs(30);

/// The most topics a workload may have.
pub const MAX_TOPICS: u64 = 100_000;
/// The highest rate a workload may have, messages per second per topic (or per client).
pub const MAX_RATE: f64 = 1_000_000.0;
/// The largest payload a workload may have, bytes.
pub const MAX_PAYLOAD: u64 = 1 << 20;

/// The body of `POST /control/workload`, echoed back by the server when accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadDoc {
    /// Topics to create.
    pub topics: u64,
    /// Messages per second per topic; 0 for none (the echo pattern).
    pub rate: f64,
    /// Payload bytes per message.
    pub payload_bytes: u64,
    /// Extra `[name, value]` fields for every answer of the push endpoints. Left out when
    /// empty, so that a server that predates them is driven, and answers, as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<Field>,
}

/// Why a workload is refused; the one-line reason of the server's `400`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// `topics` outside `1..=MAX_TOPICS`.
    #[error("topics must be 1..={MAX_TOPICS}, got {0}")]
    Topics(u64),
    /// `rate` not finite or outside `0..=MAX_RATE`.
    #[error("rate must be a finite 0..={MAX_RATE}, got {0}")]
    Rate(f64),
    /// `payload_bytes` above `MAX_PAYLOAD`.
    #[error("payload_bytes must be 0..={MAX_PAYLOAD}, got {0}")]
    Payload(u64),
    /// A `response_headers` field breaks the rules of `pushbench_wire::headers`.
    #[error("response_headers: {0}")]
    Headers(#[from] FieldError),
}

impl WorkloadDoc {
    /// Checks the bounds and the header fields.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if !(1..=MAX_TOPICS).contains(&self.topics) {
            return Err(WorkloadError::Topics(self.topics));
        }
        if !self.rate.is_finite() || !(0.0..=MAX_RATE).contains(&self.rate) {
            return Err(WorkloadError::Rate(self.rate));
        }
        if self.payload_bytes > MAX_PAYLOAD {
            return Err(WorkloadError::Payload(self.payload_bytes));
        }
        let fields = self.response_headers.iter();
        check_fields(
            Direction::Response,
            fields.map(|(n, v)| (n.as_str(), v.as_str())),
        )?;
        Ok(())
    }
}

/// The `GET /stats` document; field names are the contract in `docs/protocol.md`.
///
/// The load generator needs only `instance`, `topic_heads`, `cpu_seconds`, `rss_bytes` and
/// `peak_rss_bytes`; every other field reads as zero when a server leaves it out, so a
/// server written to an older edition of the contract is still driven.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsDoc {
    /// Differs for every start of the server (0 from a server that does not say).
    #[serde(default)]
    pub instance: u64,
    /// Workloads set (`POST /control/workload` accepted) since the server started: how the
    /// shards of a sharded run that do not set the workload see that it has been set.
    #[serde(default)]
    pub workloads: u64,
    /// Connections open now, by the endpoint of their first request.
    #[serde(default)]
    pub connections: ConnectionCounts,
    /// Connections accepted since the server started.
    #[serde(default)]
    pub connections_accepted: u64,
    /// Messages published since the server started.
    #[serde(default)]
    pub messages_published: u64,
    /// Messages handed to client connections.
    #[serde(default)]
    pub messages_written: u64,
    /// The body bytes that carried them.
    #[serde(default)]
    pub bytes_written: u64,
    /// Head sequence number per topic: the newest message now, or, when the request named
    /// an instant in [`HEADS_AT_HEADER`], the newest due at or before it.
    pub topic_heads: Vec<u64>,
    /// The instant `topic_heads` are as of, when the request named one (absent from a
    /// server that predates [`HEADS_AT_HEADER`], whose heads are those of its answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads_at_ns: Option<u64>,
    /// Server CPU seconds since it started.
    pub cpu_seconds: f64,
    /// RSS now.
    pub rss_bytes: u64,
    /// Peak RSS since the last workload request.
    pub peak_rss_bytes: u64,
    /// Failed `accept` calls the server survived (e.g. EMFILE).
    #[serde(default)]
    pub accept_errors: u64,
    /// Connections open now, whatever their kind.
    #[serde(default)]
    pub connections_open: usize,
    /// Connections ended or refused, by reason: one field per [`FailureCounter`].
    #[serde(flatten)]
    pub failures: FailureCounts,
    /// How far the publisher is behind its schedule; absent from a server that does not
    /// measure it (then the judgement of a phase says "unknown" rather than guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<PublisherDoc>,
    /// What waits for push subscribers (WebSocket, SSE, stream); absent from a server that
    /// does not measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<QueuedDoc>,
}

/// The `publisher` object of `/stats`: the current workload's publisher against its schedule.
/// Lag is a publication's actual time minus its scheduled time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublisherDoc {
    /// Ticks published since the workload was set (one message into every topic each).
    pub ticks: u64,
    /// How far behind its schedule the publisher is now, µs: the time since the next
    /// unpublished tick was due (0 when it is not yet due). A publisher that keeps up is
    /// behind by less than one period at any reading; one that cannot keeps growing.
    pub behind_us: u64,
    /// Every tick's lag since the workload was set, µs: an HdrHistogram, V2-serialized
    /// and base64-encoded, so that a reader subtracts two readings to get the lags of the
    /// ticks between them.
    pub lag_us: LagHistogram,
}

/// The `queued` object of `/stats`. A message is queued for a subscriber from its
/// publication until the server hands it to the subscriber's socket; counted at the
/// envelope's size (34 bytes and the payload), so framing and kernel buffers are not in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedDoc {
    /// Bytes queued now.
    pub bytes: u64,
    /// The most queued at any publication since the workload was set (sampled right after
    /// each publication, where the queue is largest).
    pub peak_bytes: u64,
}

/// A latency histogram (µs) carried in JSON as base64 of its V2 serialization.
#[derive(Debug, Clone, PartialEq)]
pub struct LagHistogram(pub hdrhistogram::Histogram<u64>);

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram(crate::result::new_histogram())
    }
}

impl Serialize for LagHistogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let mut bytes = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &self.0,
            &mut bytes,
        )
        .map_err(serde::ser::Error::custom)?;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for LagHistogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        use serde::de::Error;
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(D::Error::custom)?;
        let mut h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| D::Error::custom(format!("bad lag histogram: {e:?}")))?;
        h.auto(true);
        Ok(LagHistogram(h))
    }
}

/// The `connections` object of `/stats`: one field per transport kind, named as the kind,
/// then `other` (control, publish and unknown paths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// Open connections by the kind of their first request, in [`TransportKind::ALL`] order.
    pub by_kind: [u64; TransportKind::ALL.len()],
    /// Open connections whose first request went elsewhere.
    pub other: u64,
}

impl ConnectionCounts {
    /// Open connections of one kind.
    pub fn of(&self, kind: TransportKind) -> u64 {
        self.by_kind[kind as usize]
    }
}

impl Serialize for ConnectionCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.by_kind.len() + 1))?;
        for k in TransportKind::ALL {
            map.serialize_entry(k.name(), &self.of(k))?;
        }
        map.serialize_entry("other", &self.other)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ConnectionCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = ConnectionCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("open connections by kind")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ConnectionCounts::default();
                while let Some((name, n)) = map.next_entry::<String, u64>()? {
                    match TransportKind::from_name(&name) {
                        Some(k) => out.by_kind[k as usize] = n,
                        None if name == "other" => out.other = n,
                        // A kind this build does not know: it is no transport of ours.
                        None => out.other += n,
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Counts)
    }
}

/// Why the server ended or refused connections, one `/stats` field each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCounter {
    /// Refused past `max_connections`.
    ConnectionsRejected,
    /// Request heads not complete in time.
    HeaderTimeouts,
    /// Bytes that are not an HTTP request.
    BadRequests,
    /// Request heads over the size limit.
    HeadersTooLarge,
    /// Control requests without the control token.
    Unauthorized,
    /// Streaming connections that fell behind or stalled.
    SlowConsumerDisconnects,
    /// WebSocket frames that break RFC 6455.
    WsProtocolErrors,
    /// WebSocket text that is not UTF-8.
    WsInvalidUtf8,
    /// WebSocket messages over the size limit.
    WsMessagesTooBig,
    /// WebSocket text messages that are not publish bodies.
    WsBadPublishes,
    /// WebSocket binary messages.
    WsBinaryMessages,
}

impl FailureCounter {
    /// Every counter, in the order `/stats` lists them.
    pub const ALL: [FailureCounter; 11] = [
        FailureCounter::ConnectionsRejected,
        FailureCounter::HeaderTimeouts,
        FailureCounter::BadRequests,
        FailureCounter::HeadersTooLarge,
        FailureCounter::Unauthorized,
        FailureCounter::SlowConsumerDisconnects,
        FailureCounter::WsProtocolErrors,
        FailureCounter::WsInvalidUtf8,
        FailureCounter::WsMessagesTooBig,
        FailureCounter::WsBadPublishes,
        FailureCounter::WsBinaryMessages,
    ];

    /// The `/stats` field name; part of the contract in docs/protocol.md.
    pub fn field(self) -> &'static str {
        match self {
            FailureCounter::ConnectionsRejected => "connections_rejected",
            FailureCounter::HeaderTimeouts => "header_timeouts",
            FailureCounter::BadRequests => "bad_requests",
            FailureCounter::HeadersTooLarge => "headers_too_large",
            FailureCounter::Unauthorized => "unauthorized",
            FailureCounter::SlowConsumerDisconnects => "slow_consumer_disconnects",
            FailureCounter::WsProtocolErrors => "ws_protocol_errors",
            FailureCounter::WsInvalidUtf8 => "ws_invalid_utf8",
            FailureCounter::WsMessagesTooBig => "ws_messages_too_big",
            FailureCounter::WsBadPublishes => "ws_bad_publishes",
            FailureCounter::WsBinaryMessages => "ws_binary_messages",
        }
    }
}

/// The failure counters of `/stats`, in [`FailureCounter::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts(pub [u64; FailureCounter::ALL.len()]);

impl FailureCounts {
    /// One counter.
    pub fn get(&self, c: FailureCounter) -> u64 {
        self.0[c as usize]
    }
}

impl Serialize for FailureCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (c, n) in FailureCounter::ALL.iter().zip(self.0) {
            map.serialize_entry(c.field(), &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for FailureCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = FailureCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("failure counters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = FailureCounts::default();
                while let Some(name) = map.next_key::<String>()? {
                    match FailureCounter::ALL.iter().find(|c| c.field() == name) {
                        Some(c) => out.0[*c as usize] = map.next_value()?,
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_listed_once_in_index_order() {
        for (i, c) in FailureCounter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        let mut fields: Vec<_> = FailureCounter::ALL.iter().map(|c| c.field()).collect();
        fields.sort_unstable();
        fields.dedup();
        assert_eq!(fields.len(), FailureCounter::ALL.len());
    }

    #[test]
    fn validates_bounds() {
        let ok = WorkloadDoc {
            topics: 1,
            rate: 0.0,
            payload_bytes: 0,
            response_headers: Vec::new(),
        };
        assert!(ok.validate().is_ok());
        let max = WorkloadDoc {
            topics: MAX_TOPICS,
            rate: MAX_RATE,
            payload_bytes: MAX_PAYLOAD,
            response_headers: vec![("Set-Cookie".into(), "a=1".into()); 2],
        };
        assert!(max.validate().is_ok());
        for bad in [
            WorkloadDoc {
                topics: 0,
                ..ok.clone()
            },
            WorkloadDoc {
                topics: MAX_TOPICS + 1,
                ..ok.clone()
            },
            WorkloadDoc {
                rate: -1.0,
                ..ok.clone()
            },
            WorkloadDoc {
                rate: f64::NAN,
                ..ok.clone()
            },
            WorkloadDoc {
                rate: f64::INFINITY,
                ..ok.clone()
            },
            WorkloadDoc {
                rate: MAX_RATE * 2.0,
                ..ok.clone()
            },
            WorkloadDoc {
                payload_bytes: MAX_PAYLOAD + 1,
                ..ok.clone()
            },
            WorkloadDoc {
                response_headers: vec![("Content-Length".into(), "1".into())],
                ..ok.clone()
            },
        ] {
            let reason = bad.validate().unwrap_err().to_string();
            assert!(!reason.contains('\n'), "{reason}");
        }
    }

    #[test]
    fn a_workload_without_fields_is_written_as_before_they_existed() {
        let w = WorkloadDoc {
            topics: 3,
            rate: 20.0,
            payload_bytes: 128,
            response_headers: Vec::new(),
        };
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"topics":3,"rate":20.0,"payload_bytes":128}"#);
        assert_eq!(serde_json::from_str::<WorkloadDoc>(&json).unwrap(), w);
    }

    #[test]
    fn stats_name_every_kind_and_read_a_sparse_document() {
        let mut doc = StatsDoc::default();
        doc.connections.by_kind[TransportKind::LongPoll as usize] = 2;
        doc.connections.other = 1;
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["connections"],
            serde_json::json!({"raw": 0, "poll": 0, "long-poll": 2, "stream": 0, "sse": 0, "websocket": 0, "other": 1})
        );
        assert_eq!(json["slow_consumer_disconnects"], 0);
        assert_eq!(serde_json::from_value::<StatsDoc>(json).unwrap(), doc);
        // What a minimal server must say.
        let sparse: StatsDoc = serde_json::from_str(
            r#"{"topic_heads": [4], "cpu_seconds": 1.5, "rss_bytes": 10, "peak_rss_bytes": 12}"#,
        )
        .unwrap();
        assert_eq!((sparse.instance, sparse.topic_heads), (0, vec![4]));
    }
}
