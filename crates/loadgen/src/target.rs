//! Target files in two stages, as scenario files are: the TOML as written ([`TargetFile`],
//! plain serde with unknown keys refused) and the checked [`TargetPlan`]
//! (`pushbench_model::target`). Every error names the file, the line and the key.
//! `docs/targets.md` documents the keys; `targets/` holds the shipped targets.

mod check;
pub(crate) mod phase;
mod publisher;

use crate::LoadgenError;
use crate::scenario::{HeaderTable, HumanDuration, Pattern, Scenario, read_file};
pub use pushbench_model::target::{
    CursorFrom, CursorRule, CursorTo, Part, PidSource, RequestPlan, ServerPlan, StartPlan,
    Subscription, TargetKind, TargetPlan, Template, Var,
};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use toml::Spanned;

/// A target file exactly as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// The target's name (required).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// `pubsub` (default) or `websocket-echo`.
    #[serde(default)]
    pub kind: Option<Spanned<TargetKind>>,
    /// How to start the server, or where it runs (required).
    #[serde(default)]
    pub server: Option<Spanned<ServerFile>>,
    /// A request sent before each phase.
    #[serde(default)]
    pub before_phase: Option<Spanned<RequestFile>>,
    /// How to publish (publish/subscribe targets).
    #[serde(default)]
    pub publish: Option<Spanned<RequestFile>>,
    /// How each transport kind subscribes, by kind name (required).
    #[serde(default)]
    pub subscribe: Option<Spanned<Entries<Spanned<SubscribeFile>>>>,
}

/// `[server]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// The program and its arguments, for a server pushbench starts.
    #[serde(default)]
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    /// Files written into the server's directory before it starts, by name.
    #[serde(default)]
    pub files: Option<Spanned<Entries<Spanned<String>>>>,
    /// A URL answering 2xx once the server is ready.
    #[serde(default)]
    pub ready: Option<Spanned<String>>,
    /// How long the server may take to become ready.
    #[serde(default)]
    pub ready_timeout: Option<Spanned<HumanDuration>>,
    /// How to install the program, for the error a machine without it gets.
    #[serde(default)]
    pub install: Option<Spanned<String>>,
    /// `http://HOST:PORT` of a server that runs already.
    #[serde(default)]
    pub base: Option<Spanned<String>>,
    /// Its process id.
    #[serde(default)]
    pub pid: Option<Spanned<u32>>,
    /// A file holding its process id.
    #[serde(default)]
    pub pid_file: Option<Spanned<String>>,
}

/// `[publish]` or `[before_phase]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// The method; `POST` when left out.
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    /// `{base}` and the path and query (required).
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Header fields.
    #[serde(default)]
    pub headers: Option<Spanned<HeaderTable>>,
    /// The body.
    #[serde(default)]
    pub body: Option<Spanned<String>>,
    /// The statuses that mean success.
    #[serde(default)]
    pub success: Option<Spanned<Vec<Spanned<u16>>>>,
}

/// One `[subscribe.KIND]` table as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeFile {
    /// `{base}` and the path and query (required).
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Header fields.
    #[serde(default)]
    pub headers: Option<Spanned<HeaderTable>>,
    /// How a polling client keeps its place.
    #[serde(default)]
    pub cursor: Option<Spanned<Vec<Spanned<CursorFile>>>>,
    /// Statuses besides 200 meaning "nothing new".
    #[serde(default)]
    pub nothing_new: Option<Spanned<Vec<Spanned<u16>>>>,
    /// Ask again at once after an answer with messages.
    #[serde(default)]
    pub until_empty: Option<Spanned<bool>>,
}

/// One cursor rule as written: `{ from = "header:Etag", to = "header:If-None-Match" }`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorFile {
    /// `header:NAME` or `first-line`.
    pub from: Spanned<String>,
    /// `header:NAME` or `query:NAME`.
    pub to: Spanned<String>,
}

/// A TOML table kept in file order, each key with its value.
#[derive(Debug)]
pub struct Entries<T>(pub Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Reads and checks a target file.
pub fn load(path: &Path) -> Result<TargetPlan, LoadgenError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadgenError::ReadTarget {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks target text; `path` names the file in errors and in the plan.
pub fn parse(path: &Path, text: &str) -> Result<TargetPlan, LoadgenError> {
    let file: TargetFile = read_file(path, text)?;
    crate::scenario::Checking { path, text }.target(path, file)
}

/// The scenario as it runs against a target: without the transports no target can offer
/// (the raw stream, pushbench's own floor), and the labels of those left out, which the
/// caller reports. A scenario of nothing else is refused.
pub fn offered_only(
    scenario: &Scenario,
    target: &TargetPlan,
) -> Result<(Scenario, Vec<String>), LoadgenError> {
    let mut fitted = scenario.clone();
    let (kept, left): (Vec<_>, Vec<_>) = (scenario.transports.iter().cloned())
        .partition(|t| pushbench_model::target::offerable(t.kind));
    if kept.is_empty() {
        return Err(LoadgenError::TargetMismatch {
            target: target.path.clone(),
            name: target.name.clone(),
            why: format!(
                "scenario {:?} has only transports no target can offer (pushbench's own raw stream)",
                scenario.name
            ),
        });
    }
    fitted.transports = kept;
    Ok((fitted, left.into_iter().map(|t| t.label).collect()))
}

/// Checks that `target` can run `scenario`: it declares every transport the scenario uses
/// (but those no target can offer, which [`offered_only`] leaves out), and the scenario asks
/// nothing of the server that only pushbench's own server does.
pub fn check_fit(scenario: &Scenario, target: &TargetPlan) -> Result<(), LoadgenError> {
    let mismatch = |why: String| LoadgenError::TargetMismatch {
        target: target.path.clone(),
        name: target.name.clone(),
        why,
    };
    let offered = scenario
        .transports
        .iter()
        .filter(|t| pushbench_model::target::offerable(t.kind));
    for t in offered {
        if target.subscription(t.kind).is_none() {
            return Err(mismatch(format!(
                "scenario {:?} uses transport `{}`, which the target does not declare (add [subscribe.{}])",
                scenario.name, t.kind, t.kind
            )));
        }
    }
    if !scenario.http.responses.is_empty() {
        return Err(mismatch(format!(
            "scenario {:?} sets response header fields ([http] response_profile or response_headers), which only pushbench's own server can add: a target answers with its own",
            scenario.name
        )));
    }
    match (target.kind, scenario.workload.pattern) {
        (TargetKind::WebsocketEcho, Pattern::Broadcast) => Err(mismatch(
            "a websocket-echo target echoes each client's own messages: the scenario needs [workload] pattern = \"echo\"".into(),
        )),
        (TargetKind::Pubsub, Pattern::Echo) => Err(mismatch(
            "the echo pattern against a publish/subscribe target is not supported yet (the load generator publishes to a target in broadcast only): use pattern = \"broadcast\", or a websocket-echo target".into(),
        )),
        _ => Ok(()),
    }
}

/// A target whose server is up for a run: where it listens and which process it is.
#[derive(Debug)]
pub struct TargetRun {
    /// The checked target file.
    pub plan: TargetPlan,
    /// Its server's address (the host and port of `{base}`).
    pub addr: SocketAddr,
    /// Its server's process: the root of the tree whose CPU and memory are measured.
    pub pid: u32,
    /// Unique to this run: the start of every phase's `{phase}` token.
    run: String,
    /// Phases begun so far.
    phases: AtomicU32,
}

impl TargetRun {
    /// A run of `plan` against its server at `addr`, process `pid`.
    pub fn new(plan: TargetPlan, addr: SocketAddr, pid: u32) -> TargetRun {
        // The wall clock and this process's id: distinct across runs, also across runs
        // against one long-running server.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let run = format!("{:x}", nanos ^ (u64::from(std::process::id()) << 40));
        TargetRun {
            plan,
            addr,
            pid,
            run,
            phases: AtomicU32::new(0),
        }
    }

    /// The `{phase}` token of the next phase: letters and digits only, as a channel name
    /// in a URL path needs.
    fn next_phase(&self) -> String {
        let n = self.phases.fetch_add(1, Ordering::Relaxed) + 1;
        format!("pb{}p{n}", self.run)
    }
}
