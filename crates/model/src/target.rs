//! A target: a push server pushbench did not write, described by a file (`targets/*.toml`,
//! `docs/targets.md`) instead of code: how to start it, how to publish to it, how each
//! transport subscribes and keeps its place. This is the checked plan; reading and checking
//! the file is the load generator's (`pushbench_loadgen::target`).

use crate::scenario::Field;
use crate::transport::TransportKind;
use std::path::PathBuf;
use std::time::Duration;

/// What kind of server a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A publish/subscribe server: the load generator publishes into topics with one
    /// request per message, and the subscribers of each transport receive them.
    #[default]
    Pubsub,
    /// A WebSocket echo server: every client sends messages and times their echoes.
    WebsocketEcho,
}

impl TargetKind {
    /// The name in target files.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Pubsub => "pubsub",
            TargetKind::WebsocketEcho => "websocket-echo",
        }
    }
}

/// A variable of a template, written `{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `http://HOST:PORT` of the server.
    Base,
    /// The topic's number, from 0.
    Topic,
    /// A token of letters and digits that differs for every phase of every run, so that a
    /// server keeping channels between requests starts each phase with fresh ones.
    Phase,
    /// The scenario's long-poll `timeout`, in milliseconds.
    TimeoutMs,
    /// The whole marked envelope the load generator publishes
    /// (`pushbench_wire::scan::encode_marked`), its sequence number assigned by the load
    /// generator.
    Message,
    /// The envelope without its sequence number, a pushbench publish body, for a server that
    /// numbers messages itself (pushbench's own `/publish`).
    Publish,
    /// The phase's number of topics.
    Topics,
    /// The scenario's payload bytes per message.
    PayloadBytes,
    /// The free loopback port pushbench chose for a server it starts.
    Port,
    /// The temporary directory of a server pushbench starts.
    Dir,
    /// The path of the running pushbench executable.
    Pushbench,
    /// How many CPUs a server pushbench starts may use: its share of `--pin`, or all this
    /// process may use (for nginx's `worker_processes`).
    Cpus,
}

impl Var {
    /// Every variable.
    pub const ALL: [Var; 12] = [
        Var::Base,
        Var::Topic,
        Var::Phase,
        Var::TimeoutMs,
        Var::Message,
        Var::Publish,
        Var::Topics,
        Var::PayloadBytes,
        Var::Port,
        Var::Dir,
        Var::Pushbench,
        Var::Cpus,
    ];

    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Var::Base => "base",
            Var::Topic => "topic",
            Var::Phase => "phase",
            Var::TimeoutMs => "timeout_ms",
            Var::Message => "message",
            Var::Publish => "publish",
            Var::Topics => "topics",
            Var::PayloadBytes => "payload_bytes",
            Var::Port => "port",
            Var::Dir => "dir",
            Var::Pushbench => "pushbench",
            Var::Cpus => "cpus",
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text sent as it is.
    Text(String),
    /// A variable's value.
    Var(Var),
}

/// A text with `{variables}`. Only `{` + lowercase letters or `_` + `}` is a variable, so
/// that the braces of an nginx configuration or a regular expression need no escaping; a
/// name that is no variable of its place is an error, so a typo is found before a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

impl Template {
    /// Reads `text`, allowing the variables `allowed`; the error names the first variable
    /// that is not allowed and those that are.
    pub fn parse(text: &str, allowed: &[Var]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(after.len());
            if name_len == 0 || !after[name_len..].starts_with('}') {
                literal.push_str(&rest[..=open]);
                rest = after;
                continue;
            }
            let name = &after[..name_len];
            let var = allowed.iter().find(|v| v.name() == name).ok_or_else(|| {
                let names: Vec<String> = allowed
                    .iter()
                    .map(|v| format!("{{{}}}", v.name()))
                    .collect();
                match names.is_empty() {
                    true => format!("unknown variable `{{{name}}}`: this text takes none"),
                    false => format!(
                        "unknown variable `{{{name}}}`; expected one of {}",
                        names.join(", ")
                    ),
                }
            })?;
            literal.push_str(&rest[..open]);
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(*var));
            rest = &after[name_len + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its pieces, for a caller that writes the values itself (without allocating).
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether it uses `var`.
    pub fn uses(&self, var: Var) -> bool {
        self.parts.contains(&Part::Var(var))
    }

    /// The text with every variable replaced by `value(var)`.
    pub fn expand(&self, mut value: impl FnMut(Var) -> String) -> String {
        let mut out = String::with_capacity(self.text.len());
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(&value(*v)),
            }
        }
        out
    }

    /// The template without a leading `{base}`: what follows the server's address (a URL's
    /// path and query). `None` when it does not start with `{base}`.
    pub fn after_base(&self) -> Option<Template> {
        match self.parts.split_first() {
            Some((Part::Var(Var::Base), rest)) => Some(Template {
                text: self.text.replacen("{base}", "", 1),
                parts: rest.to_vec(),
            }),
            _ => None,
        }
    }
}

/// How pushbench reaches the target's server, and whether it runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerPlan {
    /// pushbench starts the server for the run and stops it after.
    Start(StartPlan),
    /// The server runs already.
    Running {
        /// `http://HOST:PORT` (a loopback address: latency is read off a clock both
        /// processes share).
        base: String,
        /// Where its process id is, to measure its CPU and memory.
        pid: PidSource,
    },
}

/// A server pushbench starts: in a temporary directory of its own, on a free loopback port.
#[derive(Debug, Clone, PartialEq)]
pub struct StartPlan {
    /// The program and its arguments (`{port}`, `{dir}`, `{cpus}`, `{pushbench}`).
    pub command: Vec<Template>,
    /// Files written into the directory before the start: name and contents.
    pub files: Vec<(String, Template)>,
    /// A URL that answers 2xx once the server is ready (`{base}`).
    pub ready: Template,
    /// How long the server may take to become ready.
    pub ready_timeout: Duration,
    /// What to tell a user whose machine lacks the program (how to install it).
    pub install: Option<String>,
}

/// Where the process id of a running server comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PidSource {
    /// Given in the file.
    Pid(u32),
    /// Read from this file (a pid file) at the start of the run.
    File(PathBuf),
}

/// One kind of HTTP request the load generator sends: a publish, or the request before
/// each phase.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    /// `POST`, `PUT`, ...
    pub method: String,
    /// `{base}` and the path and query.
    pub url: Template,
    /// Header fields besides `host` and `content-length`.
    pub headers: Vec<Field>,
    /// The body.
    pub body: Template,
    /// The statuses that mean it worked.
    pub success: Vec<u16>,
}

/// How the clients of one transport kind subscribe.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The kind.
    pub kind: TransportKind,
    /// `{base}` and the path and query.
    pub url: Template,
    /// Header fields besides `host`, the `[http]` profile's and those the client writes
    /// itself (the WebSocket handshake's).
    pub headers: Vec<Field>,
    /// How a polling client keeps its place between requests (empty: it does not).
    pub cursor: Vec<CursorRule>,
    /// Statuses besides 200 that answer a poll with "nothing new" (nchan's 304).
    pub nothing_new: Vec<u16>,
    /// A poll asks again at once after an answer with messages, until one without: for
    /// servers that answer one message per poll.
    pub until_empty: bool,
}

/// One piece of a polling client's place, carried from an answer into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorRule {
    /// Where the answer holds it.
    pub from: CursorFrom,
    /// Where the next request carries it.
    pub to: CursorTo,
}

/// Where an answer holds a piece of the client's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorFrom {
    /// A header field (`Etag`).
    Header(String),
    /// The body's first line (pushbench's batch cursor).
    FirstLine,
}

/// Where the next request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorTo {
    /// A header field (`If-None-Match`).
    Header(String),
    /// A query parameter (`cursor`).
    Query(String),
}

/// A checked target file.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPlan {
    /// The target's name, in run directories and reports.
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Publish/subscribe or WebSocket echo.
    pub kind: TargetKind,
    /// How its server is reached, and whether pushbench runs it.
    pub server: ServerPlan,
    /// A request sent before each phase (to reset the server's topics, say).
    pub before_phase: Option<RequestPlan>,
    /// How the load generator publishes (publish/subscribe targets).
    pub publish: Option<RequestPlan>,
    /// How each transport kind the target offers subscribes, in the file's order.
    pub subscribe: Vec<Subscription>,
}

/// Whether a target can offer `kind` at all: every family but pushbench's own raw stream,
/// the floor the other transports are read against (`docs/protocol.md`).
pub fn offerable(kind: TransportKind) -> bool {
    kind.descriptor().family != crate::transport::Family::Raw
}

impl TargetPlan {
    /// How `kind` subscribes, when the target offers it.
    pub fn subscription(&self, kind: TransportKind) -> Option<&Subscription> {
        self.subscribe.iter().find(|s| s.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_literal_braces() {
        let t = Template::parse("{base}/pub/{phase}_{topic}", &Var::ALL).unwrap();
        assert_eq!(
            t.parts(),
            [
                Part::Var(Var::Base),
                Part::Text("/pub/".into()),
                Part::Var(Var::Phase),
                Part::Text("_".into()),
                Part::Var(Var::Topic),
            ]
        );
        let conf = "events { worker_connections 64; }\nlocation ~ ^/a/(\\w{2})$ {\n}";
        let t = Template::parse(conf, &[]).unwrap();
        assert_eq!(t.parts(), [Part::Text(conf.into())]);
        assert_eq!(t.expand(|_| unreachable!()), conf);
        let t = Template::parse("listen 127.0.0.1:{port}; {}", &[Var::Port]).unwrap();
        assert_eq!(t.expand(|_| "80".into()), "listen 127.0.0.1:80; {}");
    }

    #[test]
    fn an_unknown_or_misplaced_variable_is_named() {
        let e = Template::parse("{base}/x/{topik}", &[Var::Base, Var::Topic]).unwrap_err();
        assert_eq!(
            e,
            "unknown variable `{topik}`; expected one of {base}, {topic}"
        );
        let e = Template::parse("{port}", &[]).unwrap_err();
        assert_eq!(e, "unknown variable `{port}`: this text takes none");
    }

    #[test]
    fn after_base_is_the_path() {
        let t = Template::parse("{base}/sub/{topic}", &Var::ALL).unwrap();
        let p = t.after_base().unwrap();
        assert_eq!(p.expand(|_| "3".into()), "/sub/3");
        assert!(
            Template::parse("/sub", &Var::ALL)
                .unwrap()
                .after_base()
                .is_none()
        );
    }
}
