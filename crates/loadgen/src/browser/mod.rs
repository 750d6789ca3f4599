//! Browser clients (`client = "browser"`): the browser's own `fetch`, `EventSource` and
//! `WebSocket` in headless Chromium, counted like the load generator's own clients.
//!
//! How a phase runs (`docs/scenarios.md`, "Browser clients"):
//! - one Chromium, driven over WebDriver (chromedriver, through `fantoccini`), opens one
//!   page per [`CLIENTS_PER_PAGE`] clients, each page in a window of its own;
//! - each page comes from a relay of its own ([`relay`]): a loopback listener of the load
//!   generator, so every page is its own origin (HTTP/1.1's six connections per host hold
//!   per page) and every connection of its clients passes through the relay, which forwards
//!   it to the server and counts its bytes both ways on the client's meter, the browser's
//!   real request heads included. The page itself and `GET /clock` are answered by the
//!   relay and are not counted;
//! - the page runs the reference clients the live page runs
//!   (`pushbench_model::client::BROWSER_CLIENTS_JS`) and keeps, for every message, its first
//!   34 bytes and its receive time converted to the load generator's clock; the load
//!   generator collects them over WebDriver every [`phase::COLLECT_EVERY`] and records them
//!   with the same `Meter` as its own clients (sequence checks, latency, counts).

mod driver;
pub(crate) mod phase;
pub mod port;
mod relay;

use std::ffi::OsString;
use std::path::PathBuf;

/// Clients per page ([`pushbench_model::client::BROWSER_CLIENTS_PER_PAGE`]).
pub use pushbench_model::client::BROWSER_CLIENTS_PER_PAGE as CLIENTS_PER_PAGE;

/// Where Chromium and chromedriver are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The browser.
    pub chromium: PathBuf,
    /// The WebDriver server that drives it.
    pub driver: PathBuf,
}

/// Environment variables that name the executables, overriding the search of `PATH`.
pub const CHROMIUM_ENV: &str = "PUSHBENCH_CHROMIUM";
/// See [`CHROMIUM_ENV`].
pub const CHROMEDRIVER_ENV: &str = "PUSHBENCH_CHROMEDRIVER";

/// Chromium and chromedriver: the files `PUSHBENCH_CHROMIUM` and `PUSHBENCH_CHROMEDRIVER`
/// name, or else the first of `chromium`, `chromium-browser`, `google-chrome` and
/// `chromedriver` on `PATH`. The error is one line saying which is missing and how to get it.
pub fn locate() -> Result<Paths, String> {
    locate_with(&|k| std::env::var_os(k))
}

/// [`locate`] with the environment `env` gives.
fn locate_with(env: &dyn Fn(&str) -> Option<OsString>) -> Result<Paths, String> {
    let chromium = find(
        env,
        ("chromium", CHROMIUM_ENV),
        &["chromium", "chromium-browser", "google-chrome"],
    )?;
    let driver = find(env, ("chromedriver", CHROMEDRIVER_ENV), &["chromedriver"])?;
    Ok(Paths { chromium, driver })
}

fn find(
    env: &dyn Fn(&str) -> Option<OsString>,
    (what, var): (&str, &str),
    names: &[&str],
) -> Result<PathBuf, String> {
    let fix = format!("set {var} or run scripts/install-chromium.sh");
    if let Some(p) = env(var) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{what} not found at {} ({var}; {fix})",
                p.display()
            ))
        };
    }
    let path = env("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{what} not found at PATH ({fix})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_browser_is_named_with_the_fix() {
        let none = |_: &str| None;
        assert_eq!(
            locate_with(&none).unwrap_err(),
            "chromium not found at PATH (set PUSHBENCH_CHROMIUM or run scripts/install-chromium.sh)"
        );
        let named = |k: &str| (k == CHROMIUM_ENV).then(|| OsString::from("/nonexistent/chromium"));
        assert_eq!(
            locate_with(&named).unwrap_err(),
            "chromium not found at /nonexistent/chromium (PUSHBENCH_CHROMIUM; set PUSHBENCH_CHROMIUM or run scripts/install-chromium.sh)"
        );
        // A directory on PATH with chromium but no chromedriver.
        let dir = std::env::temp_dir().join(format!("pushbench-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("chromium"), "").unwrap();
        let path = |k: &str| (k == "PATH").then(|| dir.clone().into_os_string());
        let e = locate_with(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            e,
            "chromedriver not found at PATH (set PUSHBENCH_CHROMEDRIVER or run scripts/install-chromium.sh)"
        );
    }
}
