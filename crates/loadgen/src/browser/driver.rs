//! Headless Chromium through chromedriver (WebDriver, with `fantoccini`): started in a
//! process group of its own, so that the Chromium chromedriver starts ends with it, and a
//! profile directory of its own, removed afterwards.

use super::Paths;
use crate::error::LoadgenError;
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The longest any one WebDriver step may take: Chromium starts slowly on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// Chromium's flags. Automation's usual ones (Puppeteer sets the same): every page runs as a
/// foreground tab would, its timers unthrottled, since several windows are open at once.
const FLAGS: &[&str] = &[
    "--headless=new",
    // Root (as in CI) cannot use Chromium's sandbox.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
];

/// A Chromium session with one window per page.
pub(super) struct Driver {
    client: Client,
    /// chromedriver, leading its process group.
    child: tokio::process::Child,
    profile: PathBuf,
    pub(super) windows: Vec<WindowHandle>,
}

fn failed(what: &str) -> impl Fn(fantoccini::error::CmdError) -> LoadgenError + '_ {
    move |e| LoadgenError::Browser(format!("{what}: {e}"))
}

impl Driver {
    /// Starts chromedriver and a Chromium session with `pages` windows.
    pub(super) async fn launch(paths: &Paths, pages: u32) -> Result<Driver, LoadgenError> {
        let (child, port) = start(paths).await?;
        let profile = std::env::temp_dir().join(format!(
            "pushbench-chromium-{}-{}",
            std::process::id(),
            pushbench_wire::now_ns()
        ));
        let mut driver = Driver {
            client: connect(paths, port, &profile).await?,
            child,
            profile,
            windows: Vec::new(),
        };
        let first = driver.client.window().await.map_err(failed("window"))?;
        driver.windows.push(first);
        for _ in 1..pages {
            let w = driver
                .client
                .new_window(false)
                .await
                .map_err(failed("new window"))?;
            driver.windows.push(w.handle);
        }
        Ok(driver)
    }

    pub(super) async fn switch(&self, w: &WindowHandle) -> Result<(), LoadgenError> {
        (self.client.switch_to_window(w.clone()).await).map_err(failed("switch window"))
    }

    pub(super) async fn goto(&self, url: &str) -> Result<(), LoadgenError> {
        self.client.goto(url).await.map_err(failed(url))
    }

    /// Runs `script` in the current window (a returned promise is awaited).
    pub(super) async fn script(
        &self,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, LoadgenError> {
        self.client
            .execute(script, args)
            .await
            .map_err(failed(script))
    }

    /// Ends the session, then the process group, and removes the profile.
    pub(super) async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negated group id and a signal number; no memory involved.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        let _ = self.child.wait().await;
        // Chromium's last children may still be going down; a second try after a moment.
        for _ in 0..2 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// chromedriver listening on a port of [`super::port`]'s choice, and that port. Another
/// port is tried when the chosen one was taken in between (chromedriver exits saying so), at
/// most 8 times; any other failure is final.
async fn start(paths: &Paths) -> Result<(tokio::process::Child, u16), LoadgenError> {
    let mut said = String::new();
    for _ in 0..8 {
        let port = super::port::free_port().ok_or_else(|| {
            LoadgenError::Browser("no free loopback port for chromedriver".into())
        })?;
        let mut child = spawn(paths, port)?;
        match tokio::time::timeout(WAIT, port_of(&mut child)).await {
            Ok(Ok(port)) => return Ok((child, port)),
            Ok(Err(s)) => {
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                said = format!("chromedriver announced no port ({status}); it said: {s}");
                if !s.contains(super::port::TAKEN) {
                    break;
                }
            }
            Err(_) => {
                said = format!("chromedriver announced no port within {WAIT:?}");
                break;
            }
        }
    }
    Err(LoadgenError::Browser(said))
}

/// chromedriver on `port`, leading a process group of its own.
fn spawn(paths: &Paths, port: u16) -> Result<tokio::process::Child, LoadgenError> {
    let mut cmd = tokio::process::Command::new(&paths.driver);
    cmd.arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // A load generator that dies without quitting (killed, or a panic on a closed
    // stdout) takes chromedriver with it, and Chromium follows its closed pipe: in a
    // process group of its own, nothing else would end it. The signal comes when the
    // thread that started it ends, which quits it first.
    // SAFETY: prctl(2) between fork and exec: async-signal-safe, touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    cmd.spawn()
        .map_err(|e| LoadgenError::Browser(format!("cannot start {}: {e}", paths.driver.display())))
}

/// The port chromedriver announces on its first lines; or, when its output ends first, what
/// it printed (both streams), for the error. The rest of its output is read and dropped, so
/// chromedriver never blocks on it.
async fn port_of(child: &mut tokio::process::Child) -> Result<u16, String> {
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output streams".into());
    };
    let errors = tokio::spawn(async move {
        let mut lines = BufReader::new(err).lines();
        let mut said = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            if said.len() < 20 {
                said.push(l);
            }
        }
        said
    });
    let mut lines = BufReader::new(out).lines();
    let mut said = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        if let Some(p) = l.strip_prefix("ChromeDriver was started successfully on port ") {
            let port = p.trim_end_matches('.').parse().map_err(|_| l.clone());
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return port;
        }
        said.push(l);
    }
    said.extend(errors.await.unwrap_or_default());
    Err(said.join(" | "))
}

/// A Chromium session through chromedriver on `port`, its steps bounded by [`WAIT`].
async fn connect(
    paths: &Paths,
    port: u16,
    profile: &std::path::Path,
) -> Result<Client, LoadgenError> {
    let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps = json!({"goog:chromeOptions": {"binary": paths.chromium, "args": args}});
    let Value::Object(caps) = caps else {
        unreachable!("a JSON object literal")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| LoadgenError::Browser(format!("no Chromium session: {e}")))?;
    let bounded = fantoccini::wd::TimeoutConfiguration::new(Some(WAIT), Some(WAIT), None);
    client
        .update_timeouts(bounded)
        .await
        .map_err(failed("timeouts"))?;
    Ok(client)
}
