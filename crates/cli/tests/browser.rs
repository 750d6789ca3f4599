//! Headless Chromium against the real binary: the live page (`GET /`) runs the five
//! transports with the browser's own APIs and delivers a burst on each, in order and
//! without loss; and the per-host connection limit of HTTP/1.1 in a browser, measured
//! (`docs/findings.md`, `scripts/browser-connection-limit.sh`).
//!
//! Chromium is driven over WebDriver (fantoccini and Debian's chromedriver). Chromium and
//! chromedriver come from Debian's packages (`scripts/install-chromium.sh`, run by
//! `.ci/run`); without them a test says so in one line and passes, but with `CI=true` it
//! fails instead. Traffic stays on loopback; every wait has a deadline.
//!
//! `PUSHBENCH_SCREENSHOT=FILE.png` saves a screenshot of the page after the burst.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for any single wait: generous, since Chromium starts slowly on a busy machine.
const WAIT: Duration = Duration::from_secs(60);

/// Each test starts a Chromium; two at once would share two cores with the server.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The executable `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver; without them `None` after one line on stderr, or a failure
/// when `CI=true`.
fn browser_installed() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path("chromium").or_else(|| on_path("chromium-browser"));
    if let (Some(chromium), Some(driver)) = (chromium, on_path("chromedriver")) {
        return Some((chromium, driver));
    }
    let what = "chromium and chromedriver are not installed (scripts/install-chromium.sh)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}, and CI=true: the browser tests must run");
    }
    eprintln!("skipped: {what}");
    None
}

/// A child in a process group of its own, killed with the whole group when dropped: so
/// the Chromium that chromedriver starts goes too, even when a test fails midway.
struct Group(Child);

impl Group {
    fn spawn(mut cmd: Command) -> Group {
        use std::os::unix::process::CommandExt;
        let child = cmd.process_group(0).spawn().expect("start a child process");
        Group(child)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negated group id and a signal number; no memory involved.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// The first line of `child`'s stdout that `pick` accepts, the rest drained in a thread.
fn first_line<T>(child: &mut Child, mut pick: impl FnMut(&str) -> Option<T>) -> T {
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let found = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| pick(&l))
        .expect("the line announcing the port");
    std::thread::spawn(move || lines.for_each(drop));
    found
}

/// `pushbench serve` on a free loopback port.
fn serve() -> (Group, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushbench"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut server = Group::spawn(cmd);
    let addr = first_line(&mut server.0, |l| {
        l.strip_prefix("pushbench server listening on ")?
            .parse()
            .ok()
    });
    (server, addr)
}

/// chromedriver on a port it picks, and a headless Chromium session through it.
async fn browser(chromium: &Path, driver: &Path, tag: &str) -> (Group, Client) {
    let mut cmd = Command::new(driver);
    cmd.arg("--port=0").stdout(Stdio::piped());
    let mut group = Group::spawn(cmd);
    let port: u16 = first_line(&mut group.0, |l| {
        l.strip_prefix("ChromeDriver was started successfully on port ")?
            .trim_end_matches('.')
            .parse()
            .ok()
    });
    let profile = pushbench_testkit::temp_dir(&format!("chromium-{tag}"));
    let args = [
        "--headless=new".to_string(),
        // Root (as in CI) cannot use Chromium's sandbox.
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--window-size=1400,640".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({"goog:chromeOptions": {"binary": chromium, "args": args}});
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    (group, client)
}

/// One request on its own connection; the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("an answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let status = head[9..12].parse().expect("a status code");
    (status, body.to_string())
}

fn stats(addr: SocketAddr) -> Value {
    serde_json::from_str(&http(addr, "GET", "/stats", "").1).expect("stats is JSON")
}

/// Runs `script` in the page (a function body; a returned promise is awaited).
async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls `check` every 50 ms until it gives a value; fails after `WAIT` with `what`.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const TRANSPORTS: [&str; 5] = ["poll", "long-poll", "stream", "sse", "websocket"];

#[test]
fn the_page_delivers_a_burst_on_every_transport_in_order_without_loss() {
    let Some((chromium, driver)) = browser_installed() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, addr) = serve();
    runtime().block_on(async {
        let (_driver, client) = browser(&chromium, &driver, "burst").await;
        burst(&client, addr).await;
        client.close().await.expect("end the session");
    });
}

async fn burst(client: &Client, addr: SocketAddr) {
    client.goto(&format!("http://{addr}/")).await.unwrap();
    until("the page to be ready", async || {
        js(client, "return window.pushbench && window.pushbench.ready")
            .await
            .as_bool()
            .filter(|&ready| ready)
    })
    .await;
    // 100 messages/s for about a second, as a person would: the form, then Start and Stop.
    js(
        client,
        "document.getElementById('rate').value = '100';\
        document.getElementById('payload').value = '64';\
        document.getElementById('interval').value = '100';",
    )
    .await;
    client
        .find(Locator::Id("start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until("50 messages published", async || {
        let head = stats(addr)["topic_heads"][0].as_u64()?;
        (head >= 50).then_some(())
    })
    .await;
    client
        .find(Locator::Id("stop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until("the page to report the publisher stopped", async || {
        let note = js(
            client,
            "return document.getElementById('control-note').textContent",
        )
        .await;
        (note == "publisher stopped").then_some(())
    })
    .await;
    // The server answered /control/stop after its publisher had stopped: this is the burst.
    let burst = stats(addr)["topic_heads"][0].as_u64().unwrap();
    let pages = until("every transport to reach the last message", async || {
        let snap = js(client, "return window.pushbench.snapshot()").await;
        TRANSPORTS
            .iter()
            .all(|t| snap[t]["newest"].as_u64() == Some(burst))
            .then_some(snap)
    })
    .await;
    if let Some(file) = std::env::var_os("PUSHBENCH_SCREENSHOT") {
        // The table is redrawn every 250 ms; let it show the final counts.
        tokio::time::sleep(Duration::from_millis(600)).await;
        std::fs::write(&file, client.screenshot().await.unwrap()).unwrap();
        eprintln!("screenshot: {}", Path::new(&file).display());
    }
    for t in TRANSPORTS {
        let c = &pages[t];
        let what = format!("{t}: {c}");
        // The page restarted every transport at cursor 0 on the fresh topic: each must have
        // had every message from 1 to the last, each once, in order.
        assert_eq!(c["first"], json!(1), "{what}");
        assert_eq!(c["delivered"], json!(burst), "{what}");
        for zero in ["lost", "duplicated", "out_of_order", "errors", "reconnects"] {
            assert_eq!(c[zero], json!(0), "{zero} of {what}");
        }
        // Every delivered message had a latency recorded (the clock offset was known).
        assert!(c["p50_us"].as_f64().is_some(), "{what}");
        assert!(c["p50_us"].as_f64() <= c["p99_us"].as_f64(), "{what}");
    }
}
