//! The clients of a target (a server pushbench did not write): one per family of exchange
//! (`pushbench_model::Family`), each driven by the target file's subscription for its kind
//! instead of pushbench's protocol. Messages are found by scanning what arrives for their
//! envelopes (`pushbench_wire::scan`), so the server may frame them as it likes.

mod polls;
mod response;

use super::Client;
use super::websocket::{self, Dialect};
use crate::error::ClientError;
use crate::stats::SeqState;
use pushbench_model::Family;
use pushbench_model::target::{CursorFrom, CursorTo, Part, Subscription, TargetKind, Var};

/// What every client of a phase against a target shares.
#[derive(Debug)]
pub(crate) struct TargetClient {
    /// How this phase's kind subscribes.
    pub(crate) sub: Subscription,
    /// Publish/subscribe or WebSocket echo.
    pub(crate) kind: TargetKind,
    /// This phase's `{phase}` token.
    pub(crate) phase: String,
    /// The subscription's own header fields, `Name: value\r\n` each.
    pub(crate) extra: Box<[u8]>,
}

impl TargetClient {
    pub(crate) fn new(sub: Subscription, kind: TargetKind, phase: String) -> TargetClient {
        let mut extra = Vec::new();
        for (name, value) in &sub.headers {
            for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                extra.extend_from_slice(part);
            }
        }
        TargetClient {
            sub,
            kind,
            phase,
            extra: extra.into_boxed_slice(),
        }
    }

    /// The request target (path and query) a client of `topic` subscribes at.
    fn request_target(&self, client: &Client) -> Vec<u8> {
        let path = self
            .sub
            .url
            .after_base()
            .expect("checked: URLs start with {base}");
        let mut out = Vec::with_capacity(path.text().len() + 16);
        for part in path.parts() {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Var(Var::Topic) => super::push_decimal(&mut out, u64::from(client.topic)),
                Part::Var(Var::Phase) => out.extend_from_slice(self.phase.as_bytes()),
                Part::Var(Var::TimeoutMs) => {
                    super::push_decimal(&mut out, client.plan.longpoll_timeout.as_millis() as u64)
                }
                Part::Var(v) => unreachable!("checked: {{{}}} is not a subscription's", v.name()),
            }
        }
        out
    }
}

/// Where a polling client stands: the values its cursor rules carried out of the last
/// answer that had them, kept across reconnects.
#[derive(Debug, Default)]
pub(crate) struct Place {
    values: Vec<Option<Vec<u8>>>,
}

impl Place {
    /// Appends the query parameters of the place to a request line being written (up to
    /// its request target).
    fn write_query(&self, sub: &Subscription, target: &mut Vec<u8>) {
        let mut sep = if target.contains(&b'?') { b'&' } else { b'?' };
        for (rule, value) in sub.cursor.iter().zip(&self.values) {
            if let (CursorTo::Query(name), Some(v)) = (&rule.to, value) {
                target.push(sep);
                target.extend_from_slice(name.as_bytes());
                target.push(b'=');
                target.extend_from_slice(v);
                sep = b'&';
            }
        }
    }

    /// Appends the header fields of the place to a request head.
    fn write_headers(&self, sub: &Subscription, head: &mut Vec<u8>) {
        for (rule, value) in sub.cursor.iter().zip(&self.values) {
            if let (CursorTo::Header(name), Some(v)) = (&rule.to, value) {
                for part in [name.as_bytes(), b": ", v, b"\r\n"] {
                    head.extend_from_slice(part);
                }
            }
        }
    }

    /// Takes the place from an answer: `fields[i]` is where the head holds the field of
    /// rule `i` (when its source is a field), `body` the answer's body. A rule whose source
    /// the answer lacks keeps its value.
    fn update(
        &mut self,
        sub: &Subscription,
        buf: &[u8],
        fields: &[Option<std::ops::Range<usize>>],
        body: &[u8],
    ) {
        self.values.resize(sub.cursor.len(), None);
        for (i, rule) in sub.cursor.iter().enumerate() {
            let found = match &rule.from {
                CursorFrom::Header(_) => fields.get(i).cloned().flatten().map(|r| &buf[r]),
                CursorFrom::FirstLine => body
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|nl| body[..nl].strip_suffix(b"\r").unwrap_or(&body[..nl])),
            };
            if let Some(v) = found {
                // The buffer is kept, so a steady poll reuses one allocation per rule.
                let slot = self.values[i].get_or_insert_with(Vec::new);
                slot.clear();
                slot.extend_from_slice(v);
            }
        }
    }
}

/// The header fields a subscription's cursor rules read from answers, in rule order
/// (`""` for a rule that reads the body).
fn wanted_fields(sub: &Subscription) -> Vec<&str> {
    sub.cursor
        .iter()
        .map(|r| match &r.from {
            CursorFrom::Header(name) => name.as_str(),
            CursorFrom::FirstLine => "",
        })
        .collect()
}

/// One session of a target's client, by the family of its kind.
pub(crate) async fn session(
    client: &Client,
    target: &TargetClient,
    seq: &mut SeqState,
    place: &mut Place,
) -> Result<(), ClientError> {
    match client.plan.kind.descriptor().family {
        Family::Polls => polls::session(client, target, seq, place).await,
        Family::Response => response::session(client, target, seq).await,
        Family::WebSocket => {
            let request_target = target.request_target(client);
            let dialect = Dialect {
                target: &request_target,
                extra: &target.extra,
                scan: true,
                marked: target.kind == TargetKind::WebsocketEcho,
            };
            websocket::run(client, seq, &dialect).await
        }
        // Refused when the target file is checked.
        Family::Raw => Err(ClientError::Protocol(
            "a target offers no raw stream".into(),
        )),
    }
}
