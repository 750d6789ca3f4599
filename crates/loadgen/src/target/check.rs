//! The second stage of a target file: the file as written ([`TargetFile`]) checked into
//! the plan ([`TargetPlan`]), one step per table. Every error names the line and the key.

use super::{
    CursorFile, CursorFrom, CursorRule, CursorTo, Entries, PidSource, RequestFile, RequestPlan,
    ServerFile, ServerPlan, StartPlan, SubscribeFile, Subscription, TargetFile, TargetKind,
    TargetPlan, Template, Var,
};
use crate::LoadgenError;
use crate::scenario::{Checking, HeaderTable, TransportKind, TransportOption, invalid};
use pushbench_model::Family;
use pushbench_model::scenario::Field;
use pushbench_wire::headers::{Direction, FieldError, check_fields};
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// How long a started server may take to answer its readiness URL, when the file does not
/// say.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a request may carry in its URL and body: a publish, or the request before a phase.
#[derive(Clone, Copy)]
enum RequestRole {
    Publish,
    BeforePhase,
}

impl RequestRole {
    fn key(self) -> &'static str {
        match self {
            RequestRole::Publish => "publish",
            RequestRole::BeforePhase => "before_phase",
        }
    }

    fn url_vars(self) -> &'static [Var] {
        match self {
            RequestRole::Publish => &[Var::Base, Var::Topic, Var::Phase],
            RequestRole::BeforePhase => &[Var::Base, Var::Phase, Var::Topics, Var::PayloadBytes],
        }
    }

    fn body_vars(self) -> &'static [Var] {
        match self {
            RequestRole::Publish => &[Var::Message, Var::Publish, Var::Topic, Var::Phase],
            RequestRole::BeforePhase => &[Var::Phase, Var::Topics, Var::PayloadBytes],
        }
    }
}

impl Checking<'_> {
    /// Checks a whole target file.
    pub(crate) fn target(&self, path: &Path, f: TargetFile) -> Result<TargetPlan, LoadgenError> {
        let name = self.target_name(&f)?;
        let kind = f.kind.as_ref().map_or(TargetKind::Pubsub, |k| *k.get_ref());
        let Some(server) = &f.server else {
            return Err(self.missing("server"));
        };
        let server = self.server(server)?;
        let before_phase = f
            .before_phase
            .as_ref()
            .map(|r| self.request(r, RequestRole::BeforePhase))
            .transpose()?;
        let publish = match (&f.publish, kind) {
            (Some(p), TargetKind::Pubsub) => Some(self.request(p, RequestRole::Publish)?),
            (None, TargetKind::Pubsub) => return Err(self.missing("publish")),
            (Some(p), TargetKind::WebsocketEcho) => {
                let why = "a websocket-echo target has no publish request: each client sends its messages on its own WebSocket";
                return Err(self.fail(p, "publish", why));
            }
            (None, TargetKind::WebsocketEcho) => None,
        };
        let Some(subscribe) = &f.subscribe else {
            return Err(self.missing("subscribe"));
        };
        let subscribe = self.subscriptions(subscribe, kind)?;
        Ok(TargetPlan {
            name,
            path: path.to_owned(),
            kind,
            server,
            before_phase,
            publish,
            subscribe,
        })
    }

    fn missing(&self, key: &str) -> LoadgenError {
        invalid(
            self.path,
            self.text,
            0..0,
            key,
            &format!("missing field `{key}`"),
        )
    }

    fn target_name(&self, f: &TargetFile) -> Result<String, LoadgenError> {
        let Some(name) = &f.name else {
            return Err(self.missing("name"));
        };
        let text = name.get_ref();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if text.is_empty() || !text.chars().all(allowed) {
            let why = "expected a non-empty name of letters, digits, '-', '_' or '.'";
            return Err(self.fail(name, "name", why));
        }
        Ok(text.clone())
    }

    /// `[server]`: a command pushbench runs, or the address and process id of a server that
    /// runs already.
    fn server(&self, s: &Spanned<ServerFile>) -> Result<ServerPlan, LoadgenError> {
        let f = s.get_ref();
        let Some(command) = &f.command else {
            return self.running_server(s);
        };
        let running = [
            ("server.base", f.base.as_ref().map(Spanned::span)),
            ("server.pid", f.pid.as_ref().map(Spanned::span)),
            ("server.pid_file", f.pid_file.as_ref().map(Spanned::span)),
        ];
        if let Some((key, Some(span))) = running.into_iter().find(|(_, s)| s.is_some()) {
            let why = "a server pushbench starts (`command`) is on http://127.0.0.1:{port} and its process is known: leave this out";
            return Err(invalid(self.path, self.text, span, key, why));
        }
        if command.get_ref().is_empty() {
            let why = "expected the program and its arguments, e.g. [\"nginx\", \"-c\", \"{dir}/nginx.conf\"]";
            return Err(self.fail(command, "server.command", why));
        }
        let start_vars = [Var::Port, Var::Dir, Var::Cpus, Var::Pushbench];
        let command = command
            .get_ref()
            .iter()
            .map(|a| self.template(a, "server.command", &start_vars))
            .collect::<Result<_, _>>()?;
        let files = match &f.files {
            Some(files) => self.files(files)?,
            None => Vec::new(),
        };
        let Some(ready) = &f.ready else {
            let why = "missing field `ready`: a URL that answers 2xx once the server is ready, e.g. \"{base}/\"";
            return Err(self.fail(s, "server.ready", why));
        };
        let ready = self.url(ready, "server.ready", &[Var::Base])?;
        let ready_timeout = match &f.ready_timeout {
            Some(t) if t.get_ref().0.is_zero() => {
                return Err(self.fail(t, "server.ready_timeout", "expected a duration above zero"));
            }
            Some(t) => t.get_ref().0,
            None => DEFAULT_READY_TIMEOUT,
        };
        Ok(ServerPlan::Start(StartPlan {
            command,
            files,
            ready,
            ready_timeout,
            install: f.install.as_ref().map(|i| i.get_ref().clone()),
        }))
    }

    /// The files of `[server.files]`: plain names in the server's directory.
    fn files(
        &self,
        files: &Spanned<Entries<Spanned<String>>>,
    ) -> Result<Vec<(String, Template)>, LoadgenError> {
        let mut out = Vec::new();
        for (name, text) in &files.get_ref().0 {
            let key = format!("server.files.{name}");
            let plain = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
            if !plain {
                let why =
                    "expected a plain file name: files are written into the server's own directory";
                return Err(self.fail(text, &key, why));
            }
            out.push((
                name.clone(),
                self.template(text, &key, &[Var::Port, Var::Dir, Var::Cpus])?,
            ));
        }
        Ok(out)
    }

    fn running_server(&self, s: &Spanned<ServerFile>) -> Result<ServerPlan, LoadgenError> {
        let f = s.get_ref();
        let started = [
            ("server.files", f.files.as_ref().map(Spanned::span)),
            ("server.ready", f.ready.as_ref().map(Spanned::span)),
            (
                "server.ready_timeout",
                f.ready_timeout.as_ref().map(Spanned::span),
            ),
        ];
        if let Some((key, Some(span))) = started.into_iter().find(|(_, s)| s.is_some()) {
            let why = "only a server pushbench starts (`command`) takes this";
            return Err(invalid(self.path, self.text, span, key, why));
        }
        let Some(base) = &f.base else {
            let why = "expected `command` (pushbench starts the server) or `base` with `pid` or `pid_file` (a server that runs already, whose CPU and memory pushbench reads from /proc)";
            return Err(self.fail(s, "server", why));
        };
        let text = base.get_ref();
        let addr = text
            .strip_prefix("http://")
            .unwrap_or("")
            .trim_end_matches('/')
            .parse::<std::net::SocketAddr>();
        if !matches!(&addr, Ok(a) if a.ip().is_loopback()) {
            let why = "expected http://HOST:PORT with a loopback address, e.g. http://127.0.0.1:8080: latency is read off a clock the server and pushbench share";
            return Err(self.fail(base, "server.base", why));
        }
        let pid = match (&f.pid, &f.pid_file) {
            (Some(pid), None) => PidSource::Pid(*pid.get_ref()),
            (None, Some(file)) => PidSource::File(file.get_ref().into()),
            (Some(pid), Some(_)) => {
                return Err(self.fail(pid, "server.pid", "give `pid` or `pid_file`, not both"));
            }
            (None, None) => {
                let why =
                    "expected `pid` or `pid_file`: the process whose CPU and memory are measured";
                return Err(self.fail(base, "server", why));
            }
        };
        Ok(ServerPlan::Running {
            base: text.trim_end_matches('/').to_string(),
            pid,
        })
    }

    /// `[publish]` or `[before_phase]`.
    fn request(
        &self,
        r: &Spanned<RequestFile>,
        role: RequestRole,
    ) -> Result<RequestPlan, LoadgenError> {
        let (f, key) = (r.get_ref(), role.key());
        let method = match &f.method {
            Some(m) => {
                let text = m.get_ref();
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_uppercase()) {
                    let why = "expected a method in capitals, such as POST or PUT";
                    return Err(self.fail(m, &format!("{key}.method"), why));
                }
                text.clone()
            }
            None => "POST".to_string(),
        };
        let Some(url) = &f.url else {
            return Err(self.fail(r, &format!("{key}.url"), "missing field `url`"));
        };
        let body = match (&f.body, role) {
            (Some(b), _) => self.template(b, &format!("{key}.body"), role.body_vars())?,
            (None, RequestRole::Publish) => {
                Template::parse("{message}", role.body_vars()).expect("a known variable")
            }
            (None, RequestRole::BeforePhase) => Template::parse("", &[]).expect("no variable"),
        };
        let success = match &f.success {
            Some(list) => self.statuses(list, &format!("{key}.success"))?,
            None => vec![200, 201, 202, 204],
        };
        Ok(RequestPlan {
            method,
            url: self.url(url, &format!("{key}.url"), role.url_vars())?,
            headers: self.target_headers(f.headers.as_ref(), &format!("{key}.headers"))?,
            body,
            success,
        })
    }

    /// `[subscribe.KIND]` tables, one per kind the target offers.
    fn subscriptions(
        &self,
        s: &Spanned<Entries<Spanned<SubscribeFile>>>,
        target: TargetKind,
    ) -> Result<Vec<Subscription>, LoadgenError> {
        let mut out = Vec::new();
        for (name, entry) in &s.get_ref().0 {
            let key = format!("subscribe.{name}");
            let Some(kind) = TransportKind::from_name(name) else {
                let names: Vec<&str> = (TransportKind::ALL.iter())
                    .filter(|k| k.descriptor().family != Family::Raw)
                    .map(|k| k.name())
                    .collect();
                let why = format!(
                    "unknown transport `{name}`, expected one of {}",
                    names.join(", ")
                );
                return Err(self.fail(entry, &key, &why));
            };
            if kind.descriptor().family == Family::Raw {
                let why = "the raw stream is pushbench's own floor; a target cannot offer it";
                return Err(self.fail(entry, &key, why));
            }
            if target == TargetKind::WebsocketEcho && kind != TransportKind::WebSocket {
                let why = "a websocket-echo target offers only [subscribe.websocket]";
                return Err(self.fail(entry, &key, why));
            }
            out.push(self.subscription(kind, entry, &key)?);
        }
        if out.is_empty() {
            let why = "expected at least one [subscribe.KIND] table";
            return Err(self.fail(s, "subscribe", why));
        }
        Ok(out)
    }

    fn subscription(
        &self,
        kind: TransportKind,
        entry: &Spanned<SubscribeFile>,
        key: &str,
    ) -> Result<Subscription, LoadgenError> {
        let f = entry.get_ref();
        let polls = kind.descriptor().family == Family::Polls;
        let only_polls = |given: Option<std::ops::Range<usize>>, sub: &str| match given {
            Some(span) if !polls => {
                let why = format!("only polling kinds take `{sub}`; `{kind}` does not");
                Err(invalid(
                    self.path,
                    self.text,
                    span,
                    &format!("{key}.{sub}"),
                    &why,
                ))
            }
            _ => Ok(()),
        };
        only_polls(f.cursor.as_ref().map(Spanned::span), "cursor")?;
        only_polls(f.nothing_new.as_ref().map(Spanned::span), "nothing_new")?;
        let until_empty = f.until_empty.as_ref();
        if let Some(u) = until_empty.filter(|_| !kind.takes(TransportOption::Interval)) {
            let why = format!(
                "only timed polling takes `until_empty` (a `{kind}` client asks again at once anyway)"
            );
            return Err(self.fail(u, &format!("{key}.until_empty"), &why));
        }
        let Some(url) = &f.url else {
            return Err(self.fail(entry, &format!("{key}.url"), "missing field `url`"));
        };
        let mut vars = vec![Var::Base, Var::Topic, Var::Phase];
        if kind.takes(TransportOption::Timeout) {
            vars.push(Var::TimeoutMs);
        }
        Ok(Subscription {
            kind,
            url: self.url(url, &format!("{key}.url"), &vars)?,
            headers: self.target_headers(f.headers.as_ref(), &format!("{key}.headers"))?,
            cursor: match &f.cursor {
                Some(rules) => rules
                    .get_ref()
                    .iter()
                    .map(|r| self.cursor_rule(r, &format!("{key}.cursor")))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
            nothing_new: match &f.nothing_new {
                Some(list) => self.statuses(list, &format!("{key}.nothing_new"))?,
                None => Vec::new(),
            },
            until_empty: f.until_empty.as_ref().is_some_and(|u| *u.get_ref()),
        })
    }

    fn cursor_rule(&self, r: &Spanned<CursorFile>, key: &str) -> Result<CursorRule, LoadgenError> {
        let f = r.get_ref();
        fn header(t: &str) -> Option<&str> {
            t.strip_prefix("header:").filter(|n| is_token(n))
        }
        let from = match f.from.get_ref().as_str() {
            "first-line" => CursorFrom::FirstLine,
            t => match header(t) {
                Some(name) => CursorFrom::Header(name.to_string()),
                None => {
                    let why = "expected \"header:NAME\" (a field of the answer) or \"first-line\" (the body's first line)";
                    return Err(self.fail(&f.from, &format!("{key}.from"), why));
                }
            },
        };
        let t = f.to.get_ref().as_str();
        let to = match (header(t), t.strip_prefix("query:")) {
            (Some(name), _) => CursorTo::Header(name.to_string()),
            (None, Some(name)) if !name.is_empty() && name.bytes().all(is_query_char) => {
                CursorTo::Query(name.to_string())
            }
            _ => {
                let why = "expected \"header:NAME\" (a field of the next request) or \"query:NAME\" (a query parameter)";
                return Err(self.fail(&f.to, &format!("{key}.to"), why));
            }
        };
        Ok(CursorRule { from, to })
    }

    /// A list of HTTP statuses.
    fn statuses(
        &self,
        list: &Spanned<Vec<Spanned<u16>>>,
        key: &str,
    ) -> Result<Vec<u16>, LoadgenError> {
        if list.get_ref().is_empty() {
            return Err(self.fail(list, key, "expected at least one status"));
        }
        list.get_ref()
            .iter()
            .map(|s| match *s.get_ref() {
                code @ 100..=599 => Ok(code),
                _ => Err(self.fail(s, key, "expected an HTTP status from 100 to 599")),
            })
            .collect()
    }

    fn template(
        &self,
        t: &Spanned<String>,
        key: &str,
        vars: &[Var],
    ) -> Result<Template, LoadgenError> {
        Template::parse(t.get_ref(), vars).map_err(|why| self.fail(t, key, &why))
    }

    /// A URL template: `{base}` and then a path (and query) of visible ASCII.
    fn url(&self, t: &Spanned<String>, key: &str, vars: &[Var]) -> Result<Template, LoadgenError> {
        let template = self.template(t, key, vars)?;
        let path = template.after_base().map(|p| p.text().to_string());
        match path {
            Some(p) if p.starts_with('/') && p.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(template)
            }
            _ => {
                let why =
                    "expected {base} and then a path of visible ASCII, e.g. \"{base}/sub/{topic}\"";
                Err(self.fail(t, key, why))
            }
        }
    }

    /// Header fields of a request to a target, checked by `pushbench_wire::headers`.
    fn target_headers(
        &self,
        table: Option<&Spanned<HeaderTable>>,
        key: &str,
    ) -> Result<Vec<Field>, LoadgenError> {
        let Some(table) = table else {
            return Ok(Vec::new());
        };
        let mut fields: Vec<Field> = Vec::new();
        for (name, value) in &table.get_ref().0 {
            let at = format!("{key}.{name}");
            let Some(text) = value.get_ref().as_str() else {
                return Err(self.fail(value, &at, "expected a string value"));
            };
            fields.push((name.clone(), text.to_string()));
            let listed = fields.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            match check_fields(Direction::TargetRequest, listed) {
                Ok(()) => {}
                Err(e @ (FieldError::TooMany(_) | FieldError::TooLarge(_))) => {
                    return Err(self.fail(value, key, &e.to_string()));
                }
                Err(e) => return Err(self.fail(value, &at, &e.to_string())),
            }
        }
        Ok(fields)
    }
}

/// An HTTP token (RFC 9110 §5.6.2), as header names are.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A byte a query parameter's name may hold without percent-encoding.
fn is_query_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}
