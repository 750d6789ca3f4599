//! Which client runs a transport: pushbench's own (`rust`) or the browser's native API in
//! headless Chromium (`browser`), and the reference browser clients both the live page
//! (`GET /`, the server) and the load generator's browser pages run, defined once here.

use serde::{Deserialize, Serialize};

/// The client that runs a `[[transports]]` entry (`client = "…"`, `docs/scenarios.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// The load generator's own hand-written client.
    #[default]
    Rust,
    /// The browser's API (`fetch`, `EventSource`, `WebSocket`) in headless Chromium, on the
    /// load generator's pages, its connections relayed and counted by the load generator.
    Browser,
}

impl ClientKind {
    /// Both kinds, in the order results list them.
    pub const ALL: [ClientKind; 2] = [ClientKind::Rust, ClientKind::Browser];

    /// The name in scenario files and result files.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Rust => "rust",
            ClientKind::Browser => "browser",
        }
    }

    /// Whether this is the default, which `meta.json` leaves out.
    pub fn is_rust(&self) -> bool {
        *self == ClientKind::Rust
    }
}

impl std::fmt::Display for ClientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Clients (and so at most connections) per page of browser clients: HTTP/1.1's per-host
/// limit in Chromium (`docs/findings.md` §6), so that no request of an HTTP transport waits
/// for a socket. WebSocket, which that limit does not bound, is held to it too, so every
/// kind runs the same number of clients per page (the same timers and script work per page).
pub const BROWSER_CLIENTS_PER_PAGE: u32 = 6;

/// The reference browser client of each transport (JavaScript, `browser_clients.js`):
/// `poll`, `longPoll`, `stream`, `sse` and `webSocket`, each driving a counter object the
/// including page defines. The live page inlines it, and so do the load generator's pages.
pub const BROWSER_CLIENTS_JS: &str = include_str!("browser_clients.js");

/// Where a page that includes [`BROWSER_CLIENTS_JS`] marks the place for it.
pub const BROWSER_CLIENTS_MARK: &str = "/*@browser_clients.js@*/";

/// `page` with [`BROWSER_CLIENTS_MARK`] replaced by [`BROWSER_CLIENTS_JS`].
pub fn with_browser_clients(page: &str) -> String {
    page.replacen(BROWSER_CLIENTS_MARK, BROWSER_CLIENTS_JS, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ClientKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<ClientKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn the_clients_define_every_transport() {
        for f in ["poll", "longPoll", "stream", "sse", "webSocket"] {
            assert!(
                BROWSER_CLIENTS_JS.contains(&format!("function {f}(")),
                "{f} missing"
            );
        }
        assert!(
            with_browser_clients(&format!("a{BROWSER_CLIENTS_MARK}b")).contains("function sse(")
        );
    }
}
