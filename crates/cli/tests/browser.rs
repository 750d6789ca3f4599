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

mod common;

use common::browser_installed;
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

/// A child in a process group of its own, killed with the whole group when dropped: so
/// the Chromium that chromedriver starts goes too, even when a test fails midway.
struct Group(Child, Option<PathBuf>);

impl Group {
    fn spawn(mut cmd: Command) -> Group {
        use std::os::unix::process::CommandExt;
        let child = cmd.process_group(0).spawn().expect("start a child process");
        Group(child, None)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negated group id and a signal number; no memory involved.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
        // Chromium's profile, a few MB, once Chromium is gone.
        if let Some(dir) = &self.1 {
            let _ = std::fs::remove_dir_all(dir);
        }
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

/// chromedriver on a port below the ephemeral range (`pushbench_loadgen::browser::port`
/// says why: with `--port=0` a loopback connection's ephemeral port could make it exit),
/// another when one was taken in between; and a headless Chromium session through it.
async fn browser(chromium: &Path, driver: &Path, tag: &str) -> (Group, Client) {
    let (mut group, port) = (0..8)
        .find_map(|_| {
            let port = pushbench_loadgen::browser::port::free_port().expect("a free port");
            let mut cmd = Command::new(driver);
            cmd.arg(format!("--port={port}")).stdout(Stdio::piped());
            let mut group = Group::spawn(cmd);
            let started = first_line(&mut group.0, |l| {
                (l.starts_with("ChromeDriver was started successfully")
                    || l.contains("port not available"))
                .then(|| l.contains("successfully"))
            });
            started.then_some((group, port))
        })
        .expect("chromedriver listening on one of 8 free ports");
    let profile = pushbench_testkit::temp_dir(&format!("chromium-{tag}"));
    group.1 = Some(profile.clone());
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
    // WebDriver's defaults wait 300 s for a page and 30 s for a script.
    let bounded = fantoccini::wd::TimeoutConfiguration::new(Some(WAIT), Some(WAIT), None);
    client.update_timeouts(bounded).await.unwrap();
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

/// The connection-limit experiment's page side: `window.limit` opens `n` connections of
/// one kind to this origin and counts, per connection, when it opened, what it received
/// and with what latency (on the server's clock, offset estimated as the live page does).
/// It runs in the document of `/clock`, a page that holds no connection of its own.
const LIMIT_JS: &str = r#"
const kind = arguments[0], n = arguments[1];
const t0 = performance.now();
let offset = null, best = Infinity;
for (let i = 0; i < 8; i++) {
  const a = performance.now();
  const s = parseInt(await (await fetch("/clock", {cache: "no-store"})).text(), 16) / 1e6;
  const b = performance.now();
  if (b - a < best) { best = b - a; offset = s - (a + b) / 2; }
}
const since = () => performance.now() - t0;
const conns = [];
for (let i = 0; i < n; i++) {
  const c = {opened: null, messages: 0, latencies: [], errors: 0, requests: 0, stop: null};
  const got = (text) => {
    c.messages++;
    if (c.opened === null) c.opened = since();
    c.latencies.push(performance.now() + offset - parseInt(text.slice(17, 33), 16) / 1e6);
  };
  if (kind === "sse") {
    const es = new EventSource("/sse?topic=0");
    c.requests = 1;
    es.onopen = () => { c.opened = since(); };
    es.onmessage = (e) => got(e.data);
    es.onerror = () => { c.errors++; };
    c.state = () => ["connecting", "open", "closed"][es.readyState];
    c.stop = () => es.close();
  } else if (kind === "websocket") {
    const ws = new WebSocket(`ws://${location.host}/ws?topic=0`);
    c.requests = 1;
    ws.onopen = () => { c.opened = since(); };
    ws.onmessage = (e) => got(e.data);
    ws.onerror = () => { c.errors++; };
    c.state = () => ["connecting", "open", "closing", "closed"][ws.readyState];
    c.stop = () => ws.close();
  } else {
    const abort = new AbortController();
    let pending = false;
    (async () => {
      let cursor = null;
      while (!abort.signal.aborted) {
        const url = "/longpoll?topic=0&timeout=20000" + (cursor === null ? "" : `&cursor=${cursor}`);
        c.requests++; pending = true;
        try {
          const lines = (await (await fetch(url, {signal: abort.signal, cache: "no-store"})).text()).split("\n");
          if (c.opened === null) c.opened = since();
          cursor = Number(lines[0]);
          for (const l of lines.slice(1)) if (l) got(l);
        } catch (e) { if (!abort.signal.aborted) c.errors++; }
        pending = false;
      }
    })();
    c.state = () => (c.opened === null ? "waiting" : pending ? "held" : "answered");
    c.stop = () => abort.abort();
  }
  conns.push(c);
}
window.limit = {
  conns,
  /** Per connection: state, ms to open, messages, median latency ms. */
  read: () => conns.map((c) => {
    const l = [...c.latencies].sort((a, b) => a - b);
    return {state: c.state(), opened_ms: c.opened, messages: c.messages, requests: c.requests,
            errors: c.errors, p50_ms: l.length ? l[Math.floor(l.length / 2)] : null};
  }),
  /** A fetch of this origin started now: when it is answered, in ms, while it waits null. */
  probe: () => {
    const p = {ms: null}, a = performance.now();
    fetch("/clock", {cache: "no-store"}).then((r) => r.text()).then(() => { p.ms = performance.now() - a; });
    window.limit.fetch = p;
  },
  /** Closes connections `ids` and notes when. */
  close: (ids) => { for (const i of ids) conns[i].stop(); window.limit.closed_at = since(); },
};
"#;

/// The page's connections as the server counts them: all open, less the one asking; and
/// those whose first request was to `kind`'s endpoint (a keep-alive connection the page
/// opened for something else and reused counts only in the first).
fn page_connections(addr: SocketAddr, kind: &str) -> (u64, u64) {
    let s = stats(addr);
    let open = s["connections_open"].as_u64().unwrap() - 1;
    (open, s["connections"][kind].as_u64().unwrap())
}

/// What connections of one kind on one page did.
struct Limit {
    /// The page's connections open at the server 3 s after it opened them, and those
    /// of them whose first request was to the kind's endpoint.
    server_side: u64,
    of_kind: u64,
    /// Per connection then: state, opened_ms, messages, requests, errors, p50_ms.
    first: Vec<Value>,
    /// A fetch of the origin started then: answered after this many ms, or null.
    probe: Value,
    /// How many were opened.
    n: usize,
    /// Which connections were closed then, and the readings 2 s later.
    closed: Vec<usize>,
    then: Vec<Value>,
}

const N: usize = 8;

/// Opens `n` connections of `kind` from one page to one HTTP/1.1 origin and reads what
/// each sees: after 3 s, and 2 s after two that receive were closed.
async fn limit_of(client: &Client, addr: SocketAddr, kind: &str, n: usize) -> Limit {
    // Leaving the previous kind's page through a page that needs no connection: a
    // navigation to the origin would wait behind six EventSources like any other request.
    client.goto("about:blank").await.unwrap();
    client.goto(&format!("http://{addr}/clock")).await.unwrap();
    let open = format!("return (async () => {{ {LIMIT_JS} }})()");
    client
        .execute(&open, vec![json!(kind), json!(n)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (server_side, of_kind) = page_connections(addr, kind);
    let read = "window.limit.probe(); return window.limit.read()";
    let first: Vec<Value> = serde_json::from_value(js(client, read).await).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = js(client, "return window.limit.fetch.ms").await;
    let closed: Vec<usize> = (0..n)
        .filter(|&i| first[i]["messages"].as_u64() > Some(0))
        .take(2)
        .collect();
    js(client, &format!("window.limit.close({closed:?})")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let then = serde_json::from_value(js(client, "return window.limit.read()").await).unwrap();
    Limit {
        n,
        server_side,
        of_kind,
        first,
        probe,
        closed,
        then,
    }
}

fn print_limit(what: &str, kind: &str, l: &Limit) {
    let ms = |v: &Value| v.as_f64().map_or("-".into(), |x| format!("{x:.1}"));
    println!(
        "\n{what}: {} on one page; 3 s later the server had {} of the page's connections \
         open, {} of them first used for {kind}",
        l.n, l.server_side, l.of_kind
    );
    let probe = match l.probe.as_f64() {
        Some(t) => format!("answered after {t:.1} ms"),
        None => "still waiting 2 s later".into(),
    };
    println!("  a fetch of /clock started then: {probe}");
    println!(
        "  conn  state       opened (ms)  messages  requests  errors  latency p50 (ms)  | 2 s after closing {:?}: state, opened (ms), messages",
        l.closed
    );
    for (i, (c, t)) in l.first.iter().zip(&l.then).enumerate() {
        println!(
            "  {i:>4}  {:<10}  {:>11}  {:>8}  {:>8}  {:>6}  {:>16}  | {:<10} {:>8} {:>6}",
            c["state"].as_str().unwrap(),
            ms(&c["opened_ms"]),
            c["messages"],
            c["requests"],
            c["errors"],
            ms(&c["p50_ms"]),
            t["state"].as_str().unwrap(),
            ms(&t["opened_ms"]),
            t["messages"],
        );
    }
}

/// Connections of `l` that had received a message when first read.
fn receiving(l: &Limit) -> usize {
    l.first
        .iter()
        .filter(|c| c["messages"].as_u64() > Some(0))
        .count()
}

#[test]
fn one_page_gets_six_http_connections_to_an_origin_and_websockets_more() {
    let Some((chromium, driver)) = browser_installed() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, addr) = serve();
    let workload = r#"{"topics": 1, "rate": 20, "payload_bytes": 16}"#;
    assert_eq!(http(addr, "POST", "/control/workload", workload).0, 200);
    runtime().block_on(async {
        let (_driver, client) = browser(&chromium, &driver, "limit").await;
        let sse = limit_of(&client, addr, "sse", N).await;
        print_limit("EventSource", "sse", &sse);
        let longpoll = limit_of(&client, addr, "long-poll", N).await;
        print_limit("long poll (fetch loop)", "long-poll", &longpoll);
        // The same with as many as the pool holds: what taking turns costs.
        let six = limit_of(&client, addr, "long-poll", 6).await;
        print_limit("long poll (fetch loop)", "long-poll", &six);
        let ws = limit_of(&client, addr, "websocket", N).await;
        print_limit("WebSocket", "websocket", &ws);
        client.close().await.expect("end the session");

        // Chromium's pool holds 6 connections per host for HTTP/1.1 (field notes, Browsers):
        // six EventSources receive, the others wait, neither opened nor failed.
        assert_eq!(receiving(&sse), 6, "EventSources receiving");
        assert_eq!(
            sse.server_side, 6,
            "the server's count of the page's connections"
        );
        for c in sse.first.iter().filter(|c| c["messages"] == 0) {
            assert_eq!(
                (c["state"].as_str(), &c["errors"]),
                (Some("connecting"), &json!(0))
            );
        }
        // A closed one frees its connection for a waiting one.
        let open_then = |l: &Limit| (0..N).filter(|i| !l.closed.contains(i)).collect::<Vec<_>>();
        for i in open_then(&sse) {
            assert!(
                sse.then[i]["messages"].as_u64() > sse.first[i]["messages"].as_u64(),
                "sse {i}"
            );
        }
        // Long polls take turns on six connections; WebSockets are not in that pool.
        assert!(longpoll.server_side <= 6, "{}", longpoll.server_side);
        assert_eq!(receiving(&ws), N, "WebSockets receiving");
        assert_eq!(
            ws.of_kind, N as u64,
            "the server's count of the page's WebSockets"
        );
    });
}
