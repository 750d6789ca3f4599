//! The transports: one [`TransportKind`] per client kind, and one [`Descriptor`] per kind
//! holding everything the rest of pushbench decides by kind (its name, its path, the
//! scenario options it takes, how it publishes in the echo pattern, its request's header
//! profile, its colour). Code that must act per kind matches on the kind once, in its
//! registry (the server's `transports/mod.rs`, the load generator's `clients/mod.rs`), and
//! reads everything else from here.

use crate::scenario::{Pattern, RequestKind, TransportPlan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The client kinds, named as in scenario files and result tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// The raw stream of `/raw`: after an upgrade, each message and a newline, nothing
    /// else. The floor the other kinds are measured against.
    Raw,
    /// Timed polling of `/poll`.
    Poll,
    /// HTTP long polling of `/longpoll`.
    LongPoll,
    /// HTTP/1.1 chunked streaming from `/stream`.
    Stream,
    /// Server-Sent Events from `/sse`.
    Sse,
    /// WebSocket frames from `/ws`.
    WebSocket,
}

/// A per-kind key of a `[[transports]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportOption {
    /// `interval`: time between polls.
    Interval,
    /// `schedule`: fixed-rate or fixed-delay polls.
    Schedule,
    /// `timeout`: how long the server may hold a long poll.
    Timeout,
}

impl TransportOption {
    /// The key in a `[[transports]]` entry.
    pub fn key(self) -> &'static str {
        match self {
            TransportOption::Interval => "interval",
            TransportOption::Schedule => "schedule",
            TransportOption::Timeout => "timeout",
        }
    }

    /// How the report's scenario line shows the option's value: `, interval 250ms`,
    /// ` (fixed-rate)`, `, timeout 30s`.
    pub fn describe(self, t: &TransportPlan) -> String {
        let duration = crate::scenario::duration_text;
        match self {
            TransportOption::Interval => format!(", interval {}", duration(t.interval)),
            TransportOption::Schedule => format!(" ({})", t.schedule.name()),
            TransportOption::Timeout => format!(", timeout {}", duration(t.timeout)),
        }
    }
}

/// The shape of a kind's exchange with the server, which the generic clients of a target
/// (a server pushbench did not write) go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Requests answered one by one, each answer complete (timed and long polling).
    Polls,
    /// One long response whose body carries the messages, chunked or ended by the close
    /// (streaming, SSE).
    Response,
    /// A connection upgraded to WebSocket; messages in frames.
    WebSocket,
    /// A connection upgraded to pushbench's raw stream; messages one per line. Only
    /// pushbench's own server offers it: it is the floor, not a candidate.
    Raw,
}

/// What pushbench knows about one transport kind.
#[derive(Debug)]
pub struct Descriptor {
    /// The kind described.
    pub kind: TransportKind,
    /// The name in scenario files, result files and reports.
    pub name: &'static str,
    /// The server endpoint its clients connect to.
    pub path: &'static str,
    /// The `[[transports]]` keys it takes besides `kind`, `label` and `clients`, in the
    /// order reports show them; any other per-kind key is an error.
    pub options: &'static [TransportOption],
    /// In the echo pattern, whether a client publishes on its own connection (WebSocket
    /// text frames) rather than with `POST /publish` on a second one.
    pub publishes_in_band: bool,
    /// Which `[http]` profile fields its requests carry.
    pub request_kind: RequestKind,
    /// The shape of its exchange.
    pub family: Family,
    /// Its colour in every chart and report, from Okabe & Ito's palette (distinguishable
    /// under the common colour-vision deficiencies; its yellow is left out, it vanishes on
    /// white). Related kinds get related hues (poll orange, long-poll vermillion); the
    /// baseline is a neutral grey, so it reads as the reference rather than a candidate.
    pub colour: (u8, u8, u8),
    /// Whether it is the baseline: the bare connection, listed first in every table and
    /// chart, and the reference the reports' readings express the other kinds against.
    pub baseline: bool,
}

/// One descriptor per kind, in [`TransportKind::ALL`] order.
const DESCRIPTORS: [Descriptor; TransportKind::ALL.len()] = [
    Descriptor {
        kind: TransportKind::Raw,
        name: "raw",
        path: "/raw",
        options: &[],
        publishes_in_band: false,
        // A raw stream has no browser API of its own; a page's WebSocket is the nearest, so
        // it carries the fields of one and differs from it in set-up by the handshake alone.
        request_kind: RequestKind::WebSocket,
        family: Family::Raw,
        colour: (136, 136, 136),
        baseline: true,
    },
    Descriptor {
        kind: TransportKind::Poll,
        name: "poll",
        path: "/poll",
        options: &[TransportOption::Interval, TransportOption::Schedule],
        publishes_in_band: false,
        request_kind: RequestKind::Fetch,
        family: Family::Polls,
        colour: (230, 159, 0),
        baseline: false,
    },
    Descriptor {
        kind: TransportKind::LongPoll,
        name: "long-poll",
        path: "/longpoll",
        options: &[TransportOption::Timeout],
        publishes_in_band: false,
        request_kind: RequestKind::Fetch,
        family: Family::Polls,
        colour: (213, 94, 0),
        baseline: false,
    },
    Descriptor {
        kind: TransportKind::Stream,
        name: "stream",
        path: "/stream",
        options: &[],
        publishes_in_band: false,
        request_kind: RequestKind::Fetch,
        family: Family::Response,
        colour: (0, 158, 115),
        baseline: false,
    },
    Descriptor {
        kind: TransportKind::Sse,
        name: "sse",
        path: "/sse",
        options: &[],
        publishes_in_band: false,
        request_kind: RequestKind::EventSource,
        family: Family::Response,
        colour: (0, 114, 178),
        baseline: false,
    },
    Descriptor {
        kind: TransportKind::WebSocket,
        name: "websocket",
        path: "/ws",
        options: &[],
        publishes_in_band: true,
        request_kind: RequestKind::WebSocket,
        family: Family::WebSocket,
        colour: (204, 121, 167),
        baseline: false,
    },
];

impl TransportKind {
    /// Every kind, in the order results list them.
    pub const ALL: [TransportKind; 6] = [
        TransportKind::Raw,
        TransportKind::Poll,
        TransportKind::LongPoll,
        TransportKind::Stream,
        TransportKind::Sse,
        TransportKind::WebSocket,
    ];

    /// Everything known about this kind.
    pub fn descriptor(self) -> &'static Descriptor {
        let d = &DESCRIPTORS[self as usize];
        debug_assert_eq!(d.kind, self, "DESCRIPTORS is in TransportKind::ALL order");
        d
    }

    /// The name used in scenario files and result tables.
    pub fn name(self) -> &'static str {
        self.descriptor().name
    }

    /// The server endpoint of this kind.
    pub fn path(self) -> &'static str {
        self.descriptor().path
    }

    /// The kind named `name` ([`TransportKind::name`]).
    pub fn from_name(name: &str) -> Option<TransportKind> {
        TransportKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind whose endpoint is `path`.
    pub fn from_path(path: &str) -> Option<TransportKind> {
        TransportKind::ALL.into_iter().find(|k| k.path() == path)
    }

    /// Whether this is the baseline kind ([`Descriptor::baseline`]).
    pub fn is_baseline(self) -> bool {
        self.descriptor().baseline
    }

    /// Whether a scenario entry of this kind may give `option`.
    pub fn takes(self, option: TransportOption) -> bool {
        self.descriptor().options.contains(&option)
    }

    /// Connections one client holds: one, or two in the echo pattern for a kind that
    /// publishes on a second connection.
    pub fn connections_per_client(self, pattern: Pattern) -> u64 {
        match pattern {
            Pattern::Echo if !self.descriptor().publishes_in_band => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TransportKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Read as serde's derive would read a plain enum (`deserialize_enum`), so scenario files and
/// JSON give the same errors as for every other enum, and the names come from the
/// descriptors.
impl<'de> Deserialize<'de> for TransportKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{EnumAccess, VariantAccess, Visitor};
        struct Name(TransportKind);
        impl<'de> Deserialize<'de> for Name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("variant identifier")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                        TransportKind::from_name(v)
                            .map(Name)
                            .ok_or_else(|| E::unknown_variant(v, &NAMES))
                    }
                }
                d.deserialize_identifier(V)
            }
        }
        struct Kind;
        impl<'de> Visitor<'de> for Kind {
            type Value = TransportKind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("enum TransportKind")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<TransportKind, A::Error> {
                let (Name(kind), variant) = data.variant()?;
                variant.unit_variant()?;
                Ok(kind)
            }
        }
        d.deserialize_enum("TransportKind", &NAMES, Kind)
    }
}

/// The kinds' names, for "expected one of" messages.
const NAMES: [&str; TransportKind::ALL.len()] = {
    let mut names = [""; TransportKind::ALL.len()];
    let mut i = 0;
    while i < DESCRIPTORS.len() {
        names[i] = DESCRIPTORS[i].name;
        i += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_descriptor_and_distinct_names_paths_and_colours() {
        for (i, k) in TransportKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i);
            assert_eq!(k.descriptor().kind, k);
            assert_eq!(TransportKind::from_name(k.name()), Some(k));
            assert_eq!(TransportKind::from_path(k.path()), Some(k));
            for o in TransportKind::ALL.into_iter().filter(|o| *o != k) {
                let (a, b) = (k.descriptor(), o.descriptor());
                assert!(a.name != b.name && a.path != b.path && a.colour != b.colour);
            }
        }
    }

    #[test]
    fn kinds_read_and_write_by_name() {
        let json = serde_json::to_string(&TransportKind::LongPoll).unwrap();
        assert_eq!(json, "\"long-poll\"");
        let back: TransportKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, TransportKind::LongPoll);
        let e = serde_json::from_str::<TransportKind>("\"carrier-pigeon\"").unwrap_err();
        assert!(
            e.to_string().contains(
                "unknown variant `carrier-pigeon`, expected one of `raw`, `poll`, `long-poll`"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_raw_stream_is_the_one_baseline_and_listed_first() {
        let baselines: Vec<TransportKind> = TransportKind::ALL
            .into_iter()
            .filter(|k| k.is_baseline())
            .collect();
        assert_eq!(baselines, [TransportKind::Raw]);
        assert_eq!(TransportKind::ALL[0], TransportKind::Raw);
        let (r, g, b) = TransportKind::Raw.descriptor().colour;
        assert!(r == g && g == b, "a neutral grey");
    }

    #[test]
    fn only_websocket_publishes_echo_on_its_own_connection() {
        assert_eq!(
            TransportKind::WebSocket.connections_per_client(Pattern::Echo),
            1
        );
        assert_eq!(TransportKind::Sse.connections_per_client(Pattern::Echo), 2);
        assert_eq!(
            TransportKind::Sse.connections_per_client(Pattern::Broadcast),
            1
        );
    }
}
