//! `client = "browser"` on a `[[transports]]` entry: what a browser client can run, checked
//! with the file, and whether Chromium and chromedriver are there, checked before a run.

use super::{Checking, LoadgenError, PollSchedule, ScenarioFile, TransportFile, Workload};
use crate::browser::locate;
use pushbench_model::client::ClientKind;
use pushbench_model::scenario::{Pattern, Scenario};
use pushbench_model::transport::TransportKind;
use std::path::Path;
use toml::Spanned;

/// An entry's label when it gives none: the kind, and `-browser` after it for a browser
/// client, so that one kind run by both clients needs no labels.
pub(super) fn default_label(kind: TransportKind, client: ClientKind) -> String {
    match client {
        ClientKind::Rust => kind.name().to_string(),
        ClientKind::Browser => format!("{}-browser", kind.name()),
    }
}

impl Checking<'_> {
    /// Refuses a browser client where the page cannot run what the entry asks: the raw
    /// stream (no browser API reads a bare upgraded socket), the echo pattern and a target
    /// (the page only subscribes, to pushbench's own server), and `fixed-delay` polling (the
    /// page's poll is `setInterval`).
    pub(super) fn browser_clients(
        &self,
        entries: &[Spanned<TransportFile>],
        f: &ScenarioFile,
        workload: &Workload,
    ) -> Result<(), LoadgenError> {
        for (i, entry) in entries.iter().enumerate() {
            let t = entry.get_ref();
            let Some(client) = t
                .client
                .as_ref()
                .filter(|c| *c.get_ref() == ClientKind::Browser)
            else {
                continue;
            };
            let kind = t.kind.as_ref().map(|k| *k.get_ref());
            let why = if kind == Some(TransportKind::Raw) {
                "the raw stream has no browser client (no browser API reads a bare upgraded socket); expected client = \"rust\""
            } else if workload.pattern == Pattern::Echo {
                "browser clients only subscribe; expected pattern = \"broadcast\", or client = \"rust\""
            } else if f.target.is_some() {
                "browser clients run against pushbench's own server only, not a [target]"
            } else if t.schedule.as_ref().map(|s| *s.get_ref()) == Some(PollSchedule::FixedDelay) {
                "the browser's poll is setInterval (fixed-rate); expected schedule = \"fixed-rate\""
            } else {
                continue;
            };
            return Err(self.fail(client, &format!("transports[{i}].client"), why));
        }
        Ok(())
    }
}

/// Refuses, before anything runs, a scenario with a browser client when Chromium or
/// chromedriver is missing ([`locate`]), naming the entry.
pub fn check_browser(scenario: &Scenario, path: &Path) -> Result<(), LoadgenError> {
    let Some(t) = (scenario.transports.iter()).find(|t| t.client == ClientKind::Browser) else {
        return Ok(());
    };
    locate().map(drop).map_err(|why| LoadgenError::Scenario {
        path: path.to_owned(),
        line: t.client_line,
        key: format!("transports[{}].client", t.entry),
        message: why,
    })
}
