//! The second stage: a scenario file as written ([`ScenarioFile`]) checked into the plan
//! ([`Scenario`]), one step per part of the file. Every error names the line and the key of
//! what is wrong.

use super::client;
use super::{
    Checking, LoadgenError, MAX_CLIENTS, PollSchedule, Scenario, ScenarioFile, Sweep,
    SweepDimension, TransportFile, TransportKind, TransportOption, TransportPlan, Workload,
    invalid, line_of,
};
use pushbench_model::protocol::{
    DEFAULT_LONGPOLL_TIMEOUT, DEFAULT_RING_CAPACITY, MAX_PAYLOAD, MAX_RATE, MAX_TOPICS,
};
use pushbench_model::scenario::{Pattern, ServerRuntimeKind};
use std::time::Duration;
use toml::Spanned;

/// What the top level of a file says about timing.
struct Timing {
    name: String,
    duration: Duration,
    repeat: u32,
}

/// What `[loadgen]` and `[server]` say.
struct Processes {
    loadgen_threads: usize,
    reconnect_backoff: Duration,
    server_threads: Option<usize>,
    server_runtime: Option<ServerRuntimeKind>,
    ring_capacity: usize,
}

impl Checking<'_> {
    /// Checks a whole file, part by part in the order its errors have always been reported.
    pub(super) fn check(&self, f: ScenarioFile) -> Result<Scenario, LoadgenError> {
        self.required(&f)?;
        let timing = self.timing(&f)?;
        let sweep = f.sweep.as_ref().map(|s| self.sweep(s)).transpose()?;
        let network = f.network.as_ref().map(|n| self.network(n)).transpose()?;
        let network = self.swept_network(f.network.as_ref(), network, sweep.as_ref())?;
        let workload = self.workload(&f, sweep.as_ref())?;
        let processes = self.processes(&f)?;
        let entries = f.transports.as_deref().unwrap_or_default();
        if entries.is_empty() {
            let why = "expected at least one [[transports]] entry";
            return Err(invalid(self.path, self.text, 0..0, "transports", why));
        }
        let http = self.http(f.http.as_ref())?;
        let transports = self.transports(entries, timing.duration, sweep.as_ref())?;
        if workload.closed_loop {
            self.closed_loop_kinds(entries, &transports)?;
        }
        self.browser_clients(entries, &f, &workload)?;
        let target = f.target.as_ref().map(|t| self.target_ref(t)).transpose()?;
        let or_one_second = |d: &Option<Spanned<super::HumanDuration>>| {
            d.as_ref().map_or(Duration::from_secs(1), |d| d.get_ref().0)
        };
        Ok(Scenario {
            name: timing.name,
            duration: timing.duration,
            warmup: or_one_second(&f.warmup),
            ramp_up: or_one_second(&f.ramp_up),
            repeat: timing.repeat,
            workload,
            loadgen_threads: processes.loadgen_threads,
            reconnect_backoff: processes.reconnect_backoff,
            server_threads: processes.server_threads,
            server_runtime: processes.server_runtime,
            ring_capacity: processes.ring_capacity,
            transports,
            sweep,
            http,
            network,
            target,
        })
    }

    /// `[target]`: the file, resolved against the scenario's directory. It is read when the
    /// run starts, with its own errors.
    fn target_ref(
        &self,
        t: &Spanned<super::TargetRefFile>,
    ) -> Result<std::path::PathBuf, LoadgenError> {
        let Some(file) = &t.get_ref().file else {
            let why = "missing field `file`: the target file, relative to this scenario";
            return Err(self.fail(t, "target.file", why));
        };
        if file.get_ref().trim().is_empty() {
            return Err(self.fail(file, "target.file", "expected a file name"));
        }
        let dir = self.path.parent().unwrap_or(std::path::Path::new(""));
        Ok(dir.join(file.get_ref()))
    }

    /// The keys a file must give: a `kind` in every `[[transports]]` entry, then `name`,
    /// `duration`, `[workload]` and the entries, as serde's derive named them missing.
    fn required(&self, f: &ScenarioFile) -> Result<(), LoadgenError> {
        let missing = |span, key: &str| {
            let why = format!("missing field `{key}`");
            invalid(self.path, self.text, span, key, &why)
        };
        for entry in f.transports.iter().flatten() {
            if entry.get_ref().kind.is_none() {
                return Err(missing(entry.span(), "kind"));
            }
        }
        let top = [
            ("name", f.name.is_some()),
            ("duration", f.duration.is_some()),
            ("workload", f.workload.is_some()),
            ("transports", f.transports.is_some()),
        ];
        match top.iter().find(|(_, given)| !given) {
            Some((key, _)) => Err(missing(0..0, key)),
            None => Ok(()),
        }
    }

    /// `name`, `duration` and `repeat`.
    fn timing(&self, f: &ScenarioFile) -> Result<Timing, LoadgenError> {
        let (name, duration) = (required(&f.name), required(&f.duration));
        if duration.get_ref().0.is_zero() {
            return Err(self.fail(duration, "duration", "expected a duration above zero"));
        }
        let text = name.get_ref();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if text.trim().is_empty() || !text.chars().all(allowed) {
            return Err(self.fail(
                name,
                "name",
                "expected a non-empty name of letters, digits, '-', '_' or '.'",
            ));
        }
        let repeat = f.repeat.as_ref().map_or(1, |r| *r.get_ref());
        if let (Some(r), 0) = (&f.repeat, repeat) {
            return Err(self.fail(r, "repeat", "expected at least 1"));
        }
        Ok(Timing {
            name: text.clone(),
            duration: duration.get_ref().0,
            repeat,
        })
    }

    /// `[workload]`, with a swept rate or payload size in place.
    fn workload(&self, f: &ScenarioFile, sweep: Option<&Sweep>) -> Result<Workload, LoadgenError> {
        let swept = |d: SweepDimension| sweep.filter(|s| s.dimension == d).map(Sweep::largest);
        let table = required(&f.workload);
        let w = table.get_ref();
        let closed_loop = self.closed_loop(w, swept(SweepDimension::Rate).is_some())?;
        let rate = match closed_loop {
            true => 0.0,
            false => self.swept_or_given(
                table,
                w.rate.as_ref(),
                swept(SweepDimension::Rate),
                "workload.rate",
                "rate",
            )?,
        };
        let in_range = rate.is_finite() && rate > 0.0 && rate <= MAX_RATE;
        if !closed_loop && !in_range {
            return Err(self.fail(
                w.rate.as_ref().expect("a rate out of range is written"),
                "workload.rate",
                &format!("expected a rate above 0 and at most {MAX_RATE} messages per second"),
            ));
        }
        let payload_bytes = self.swept_or_given(
            table,
            w.payload_bytes.as_ref(),
            swept(SweepDimension::PayloadBytes).map(|v| v as u64),
            "workload.payload_bytes",
            "payload_bytes",
        )?;
        if payload_bytes > MAX_PAYLOAD {
            return Err(self.fail(
                w.payload_bytes
                    .as_ref()
                    .expect("a size out of range is written"),
                "workload.payload_bytes",
                &format!("expected at most {MAX_PAYLOAD} bytes"),
            ));
        }
        let topics = w.topics.as_ref().map_or(1, |t| *t.get_ref());
        if let Some(t) = &w.topics {
            if topics == 0 || u64::from(topics) > MAX_TOPICS {
                let why = format!("expected 1 to {MAX_TOPICS} topics");
                return Err(self.fail(t, "workload.topics", &why));
            }
            if w.pattern == Pattern::Echo {
                let why = "echo gives every client a topic of its own; remove `topics`";
                return Err(self.fail(t, "workload.topics", why));
            }
        }
        Ok(Workload {
            pattern: w.pattern,
            rate,
            payload_bytes: payload_bytes as usize,
            topics,
            closed_loop,
        })
    }

    /// `workload.closed_loop`: echo only, and then without a rate.
    fn closed_loop(&self, w: &super::WorkloadFile, rate_swept: bool) -> Result<bool, LoadgenError> {
        let Some(c) = w.closed_loop.as_ref().filter(|c| *c.get_ref()) else {
            return Ok(false);
        };
        let key = "workload.closed_loop";
        if w.pattern != Pattern::Echo {
            let why = "a closed loop is the echo pattern's: set pattern = \"echo\"";
            return Err(self.fail(c, key, why));
        }
        if let Some(r) = &w.rate {
            let why = "a closed loop sends each message when the last one's echo is back: leave `rate` out";
            return Err(self.fail(r, "workload.rate", why));
        }
        if rate_swept {
            return Err(self.fail(c, key, "a closed loop has no rate to sweep"));
        }
        Ok(true)
    }

    /// A closed loop needs clients that send on the connection they receive on.
    fn closed_loop_kinds(
        &self,
        entries: &[Spanned<TransportFile>],
        transports: &[TransportPlan],
    ) -> Result<(), LoadgenError> {
        let apart = entries
            .iter()
            .zip(transports)
            .find(|(_, t)| !t.kind.descriptor().publishes_in_band);
        match apart {
            Some((entry, t)) => {
                let why = format!(
                    "a closed loop needs clients that send on the connection they receive on (websocket); `{}` publishes on a second one",
                    t.kind
                );
                Err(self.fail(entry, "kind", &why))
            }
            None => Ok(()),
        }
    }

    /// `[loadgen]` and `[server]`.
    fn processes(&self, f: &ScenarioFile) -> Result<Processes, LoadgenError> {
        let loadgen_threads = match f.loadgen.as_ref().and_then(|l| l.threads.as_ref()) {
            Some(t) if *t.get_ref() == 0 || *t.get_ref() > 1024 => {
                return Err(self.fail(t, "loadgen.threads", "expected 1 to 1024 threads"));
            }
            Some(t) => *t.get_ref() as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let server = f.server.as_ref();
        let server_threads = match server.and_then(|s| s.threads.as_ref()) {
            Some(t) if *t.get_ref() == 0 || *t.get_ref() > 1024 => {
                return Err(self.fail(t, "server.threads", "expected 1 to 1024 threads"));
            }
            t => t.map(|t| *t.get_ref() as usize),
        };
        let ring_capacity = match server.and_then(|s| s.ring_capacity.as_ref()) {
            Some(r) if *r.get_ref() == 0 || *r.get_ref() > 1_000_000 => {
                let why = "expected 1 to 1000000 messages";
                return Err(self.fail(r, "server.ring_capacity", why));
            }
            Some(r) => *r.get_ref() as usize,
            None => DEFAULT_RING_CAPACITY,
        };
        Ok(Processes {
            loadgen_threads,
            reconnect_backoff: f
                .loadgen
                .as_ref()
                .and_then(|l| l.reconnect_backoff.as_ref())
                .map_or(Duration::from_millis(100), |d| d.get_ref().0),
            server_threads,
            server_runtime: server
                .and_then(|s| s.runtime.as_ref())
                .map(|r| *r.get_ref()),
            ring_capacity,
        })
    }

    /// Every `[[transports]]` entry, and their labels unique; the baseline kind's first.
    fn transports(
        &self,
        entries: &[Spanned<TransportFile>],
        duration: Duration,
        sweep: Option<&Sweep>,
    ) -> Result<Vec<TransportPlan>, LoadgenError> {
        let mut transports = Vec::with_capacity(entries.len());
        for (i, t) in entries.iter().enumerate() {
            transports.push(self.transport(i, t.get_ref(), duration, sweep)?);
        }
        for (i, t) in transports.iter().enumerate() {
            if transports[..i].iter().any(|o| o.label == t.label) {
                let entry = entries[i].get_ref();
                let span = entry
                    .label
                    .as_ref()
                    .map_or_else(|| required(&entry.kind).span(), |l| l.span());
                let why = format!(
                    "label {:?} is used twice; give each entry of the same kind its own `label`",
                    t.label
                );
                let key = format!("transports[{i}].label");
                return Err(invalid(self.path, self.text, span, &key, &why));
            }
        }
        // The baseline runs first wherever it is listed, so that every result file, table
        // and chart lists it first; the others keep their order.
        transports.sort_by_key(|t| !t.kind.is_baseline());
        Ok(transports)
    }

    /// A setting that is either written in its place or swept (then left out there).
    fn swept_or_given<T: Copy>(
        &self,
        table: &Spanned<impl Sized>,
        given: Option<&Spanned<T>>,
        swept: Option<T>,
        key: &str,
        name: &str,
    ) -> Result<T, LoadgenError> {
        match (given, swept) {
            (Some(v), None) => Ok(*v.get_ref()),
            (None, Some(v)) => Ok(v),
            (Some(v), Some(_)) => Err(self.fail(
                v,
                key,
                &format!("`[sweep] {name}` gives the values; remove `{name}` here"),
            )),
            (None, None) => Err(self.fail(
                table,
                key,
                &format!("missing `{name}`: expected it here, or its values in `[sweep] {name}`"),
            )),
        }
    }

    /// One `[[transports]]` entry: its clients (or the swept ones), the options its kind
    /// takes (any other is an error), and its label.
    fn transport(
        &self,
        i: usize,
        t: &TransportFile,
        duration: Duration,
        sweep: Option<&Sweep>,
    ) -> Result<TransportPlan, LoadgenError> {
        let kind_at = required(&t.kind);
        let kind = *kind_at.get_ref();
        let key = |k: &str| format!("transports[{i}].{k}");
        let swept = sweep.filter(|s| s.dimension == SweepDimension::Clients);
        let clients = self.swept_or_given(
            kind_at,
            t.clients.as_ref(),
            swept.map(|s| s.largest() as u32),
            &key("clients"),
            "clients",
        )?;
        if let Some(c) = &t.clients
            && (clients == 0 || clients > MAX_CLIENTS)
        {
            let why = format!("expected 1 to {MAX_CLIENTS} clients");
            return Err(self.fail(c, &key("clients"), &why));
        }
        let clients_line = match (&t.clients, swept) {
            (Some(c), _) => line_of(self.text, c.span().start),
            (None, s) => s.map_or(0, |s| s.line_of(s.largest())),
        };
        self.options(i, t, kind)?;
        let (interval, timeout) = self.durations(i, t, duration)?;
        let client = t
            .client
            .as_ref()
            .map_or_else(Default::default, |c| *c.get_ref());
        let label = t.label.as_ref().map_or_else(
            || client::default_label(kind, client),
            |l| l.get_ref().clone(),
        );
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_".contains(c);
        if let Some(l) = &t.label
            && (l.get_ref().is_empty() || !l.get_ref().chars().all(allowed))
        {
            let why = "expected a label of letters, digits, '-' or '_'";
            return Err(self.fail(l, &key("label"), why));
        }
        Ok(TransportPlan {
            kind,
            label,
            clients,
            clients_line,
            entry: i,
            interval,
            schedule: t
                .schedule
                .as_ref()
                .map_or(PollSchedule::default(), |s| *s.get_ref()),
            timeout,
            client,
            client_line: t
                .client
                .as_ref()
                .map_or(0, |c| line_of(self.text, c.span().start)),
        })
    }

    /// Refuses an option the entry's kind does not take ([`TransportKind::takes`]).
    fn options(
        &self,
        i: usize,
        t: &TransportFile,
        kind: TransportKind,
    ) -> Result<(), LoadgenError> {
        let given = [
            (
                TransportOption::Interval,
                t.interval.as_ref().map(Spanned::span),
            ),
            (
                TransportOption::Schedule,
                t.schedule.as_ref().map(Spanned::span),
            ),
            (
                TransportOption::Timeout,
                t.timeout.as_ref().map(Spanned::span),
            ),
        ];
        for (option, span) in given {
            if let (Some(span), false) = (span, kind.takes(option)) {
                let key = format!("transports[{i}].{}", option.key());
                let why = format!(
                    "`{}` applies to {} only, not {kind:?}",
                    option.key(),
                    kinds_taking(option)
                );
                return Err(invalid(self.path, self.text, span, &key, &why));
            }
        }
        Ok(())
    }

    /// The entry's `interval` (within the measured window) and `timeout` (above zero, at
    /// most an hour), or their defaults.
    fn durations(
        &self,
        i: usize,
        t: &TransportFile,
        duration: Duration,
    ) -> Result<(Duration, Duration), LoadgenError> {
        let key = |k: &str| format!("transports[{i}].{k}");
        let interval = t
            .interval
            .as_ref()
            .map_or(Duration::from_secs(1), |d| d.get_ref().0);
        if let Some(v) = &t.interval
            && interval > duration
        {
            let why = "expected a poll interval no longer than the measured `duration`";
            return Err(self.fail(v, &key("interval"), why));
        }
        let timeout = t
            .timeout
            .as_ref()
            .map_or(DEFAULT_LONGPOLL_TIMEOUT, |d| d.get_ref().0);
        if let Some(v) = &t.timeout
            && (timeout.is_zero() || timeout > Duration::from_secs(3600))
        {
            let why = "expected a long-poll timeout above zero and at most 1h";
            return Err(self.fail(v, &key("timeout"), why));
        }
        Ok((interval, timeout))
    }
}

/// A key [`Checking::required`] has made sure of.
fn required<T>(v: &Option<T>) -> &T {
    v.as_ref().expect("checked by Checking::required")
}

/// The kinds that take `option`, as an error names them: `kind "poll"`, or
/// `kinds "a" and "b"`.
fn kinds_taking(option: TransportOption) -> String {
    let names: Vec<String> = TransportKind::ALL
        .into_iter()
        .filter(|k| k.takes(option))
        .map(|k| format!("{:?}", k.name()))
        .collect();
    match names.as_slice() {
        [one] => format!("kind {one}"),
        [rest @ .., last] => format!("kinds {} and {last}", rest.join(", ")),
        [] => "no kind".to_string(),
    }
}
