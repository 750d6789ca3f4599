//! A phase of browser clients: Chromium started before the window is planned (it takes a
//! second or more), then one thread that opens the pages at their clients' start times,
//! relays their connections and collects what they saw until the phase's close. It returns
//! a [`WorkerStats`] as a worker thread of the load generator's own clients does, so the
//! phase merges and reports it the same way.

use super::driver::Driver;
use super::relay::{self, PAGE_PATH, Relay};
use super::{CLIENTS_PER_PAGE, Paths};
use crate::clients::sleep_until_ns;
use crate::error::LoadgenError;
use crate::live::Progress;
use crate::phase::{PhaseSpec, topic_of};
use crate::stats::{Meter, SeqState, Window, Worker, WorkerStats};
use pushbench_model::client::{ClientKind, with_browser_clients};
use pushbench_model::result::ErrorKind;
use pushbench_model::transport::TransportKind;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// How often the load generator collects the pages' records. The records carry their own
/// receive times, so this bounds only how late the live figures are.
pub(crate) const COLLECT_EVERY: Duration = Duration::from_millis(100);

/// The `Send` part of a browser phase.
struct Plan {
    server: SocketAddr,
    kind: TransportKind,
    clients: u32,
    topics: u32,
    interval_ms: f64,
    timeout_ms: u64,
    ramp_ns: u64,
    /// The emulated link every page connection crosses in the relay.
    network: Option<crate::scenario::NetworkPlan>,
    cancel: CancellationToken,
    progress: Arc<Progress>,
}

/// Chromium running with its pages' windows open, waiting for the phase's window.
pub(crate) struct Prepared {
    /// The window, and what receipt times add to read on the server's clock
    /// ([`Worker::offset_ns`]).
    go: oneshot::Sender<(Window, i64)>,
    handle: JoinHandle<Result<WorkerStats, LoadgenError>>,
}

/// Starts Chromium for a phase of browser clients (`None`: the phase's clients are the load
/// generator's own) and returns once its windows are open.
pub(crate) async fn prepare(
    spec: &PhaseSpec<'_>,
    topics: u32,
) -> Result<Option<Prepared>, LoadgenError> {
    let tp = spec.transport;
    if tp.client != ClientKind::Browser {
        return Ok(None);
    }
    if spec.shard.is_some() {
        let why = "browser clients do not run in a shard run; run them in one process";
        return Err(LoadgenError::Browser(why.into()));
    }
    let paths = super::locate().map_err(LoadgenError::Browser)?;
    let plan = Plan {
        server: spec.server,
        kind: tp.kind,
        clients: tp.clients,
        topics,
        interval_ms: tp.interval.as_secs_f64() * 1000.0,
        timeout_ms: tp.timeout.as_millis() as u64,
        ramp_ns: spec.scenario.ramp_up.as_nanos() as u64,
        network: spec.scenario.network,
        cancel: spec.cancel.clone(),
        progress: spec.progress.clone(),
    };
    let (ready_tx, ready_rx) = oneshot::channel();
    let (go, go_rx) = oneshot::channel();
    let handle = std::thread::Builder::new()
        .name("pushbench-browser".into())
        .spawn(move || run(plan, paths, ready_tx, go_rx))
        .map_err(|e| LoadgenError::Worker(format!("cannot start a thread: {e}")))?;
    match ready_rx.await {
        Ok(()) => Ok(Some(Prepared { go, handle })),
        // The thread ended before Chromium was ready: its error says why.
        Err(_) => Err(tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| LoadgenError::Worker(e.to_string()))?
            .map_err(|_| LoadgenError::Worker("the browser thread panicked".into()))?
            .err()
            .unwrap_or_else(|| LoadgenError::Browser("Chromium did not start".into()))),
    }
}

impl Prepared {
    /// Lets the pages open over the phase's `window`, their receipt times (on the load
    /// generator's clock) read on the server's with `offset_ns`; the thread to join.
    pub(crate) fn start(
        self,
        window: Window,
        offset_ns: i64,
    ) -> Vec<JoinHandle<Result<WorkerStats, LoadgenError>>> {
        // A thread that already ended returns its error when joined.
        let _ = self.go.send((window, offset_ns));
        vec![self.handle]
    }
}

/// The browser thread: Chromium and its pages, loaded and their clocks estimated before the
/// window is planned; then, once it is known, their clients started at their due times and
/// what they saw collected until the phase's close.
fn run(
    plan: Plan,
    paths: Paths,
    ready: oneshot::Sender<()>,
    go: oneshot::Receiver<(Window, i64)>,
) -> Result<WorkerStats, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::Worker(format!("cannot build a runtime: {e}")))?;
    // The relays run on it, and serve while anything of the thread waits.
    let local = tokio::task::LocalSet::new();
    let driver = rt.block_on(Driver::launch(
        &paths,
        plan.clients.div_ceil(CLIENTS_PER_PAGE),
    ))?;
    let staged = rt.block_on(local.run_until(async {
        let pages = load_pages(&plan, &driver).await?;
        let _ = ready.send(());
        let window = go
            .await
            .map_err(|_| LoadgenError::Browser("the phase did not start".into()))?;
        Ok((pages, window))
    }));
    let (mut pages, (window, offset_ns)) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            rt.block_on(driver.quit());
            return Err(e);
        }
    };
    let shared = Rc::new(Worker {
        stats: RefCell::new(WorkerStats::new(&window)),
        window,
        offset_ns,
    });
    for page in &pages {
        let _ = page.relay.meter.set(Meter::new(shared.clone()));
        page.meter().clock_error(page.clock_error_ns);
    }
    plan.progress.clear();
    let driven = rt.block_on(local.run_until(drive(&plan, &driver, &mut pages, window)));
    // The relays and their connections end here, before the pages' meters finish.
    drop(local);
    rt.block_on(driver.quit());
    for page in &pages {
        page.meter().finish_shared(page.clients.len() as u32);
    }
    drop(pages);
    driven?;
    Rc::try_unwrap(shared)
        .map(|w| w.stats.into_inner())
        .map_err(|_| LoadgenError::Worker("relays outlived their phase".into()))
}

/// One page: its window, its relay, its clients' numbers and sequence states.
struct Page {
    window: fantoccini::wd::WindowHandle,
    relay: Rc<Relay>,
    /// The phase-wide numbers of its clients.
    clients: Vec<u32>,
    seqs: Vec<SeqState>,
    /// The bound on its clock error, ns: half the round trip of its best `GET /clock`.
    clock_error_ns: u64,
}

impl Page {
    /// Where its clients are counted (set once the window is known).
    fn meter(&self) -> &Meter {
        self.relay
            .meter
            .get()
            .expect("set before the clients start")
    }
}

/// Opens a relay per page and loads each page from its relay, which estimates its clock.
async fn load_pages(plan: &Plan, driver: &Driver) -> Result<Vec<Page>, LoadgenError> {
    let mut pages = Vec::with_capacity(driver.windows.len());
    for (p, handle) in driver.windows.iter().enumerate() {
        let first = p as u32 * CLIENTS_PER_PAGE;
        let clients: Vec<u32> = (first..(first + CLIENTS_PER_PAGE).min(plan.clients)).collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| LoadgenError::Browser(format!("cannot open a relay: {e}")))?;
        let port = listener.local_addr().map_or(0, |a| a.port());
        let relay = Rc::new(Relay {
            upstream: plan.server,
            meter: Default::default(),
            kind: plan.kind,
            page: page_answer(),
            network: plan.network,
        });
        tokio::task::spawn_local(relay::run(listener, relay.clone()));
        driver.switch(handle).await?;
        driver
            .goto(&format!("http://127.0.0.1:{port}{PAGE_PATH}"))
            .await?;
        let clock = driver.script("return prepare();", vec![]).await?;
        let clock_error_ns = match clock["rttMs"].as_f64() {
            Some(rtt) if clock["offsetMs"].is_number() => (rtt * 1e6 / 2.0).ceil() as u64,
            _ => return Err(LoadgenError::Browser(format!("prepare() returned {clock}"))),
        };
        pages.push(Page {
            window: handle.clone(),
            relay,
            seqs: vec![SeqState::default(); clients.len()],
            clients,
            clock_error_ns,
        });
    }
    Ok(pages)
}

/// Opens each page when its first client is due, then collects every page's records every
/// [`COLLECT_EVERY`] until the phase's close (or its cancellation).
async fn drive(
    plan: &Plan,
    driver: &Driver,
    pages: &mut [Page],
    window: Window,
) -> Result<(), LoadgenError> {
    let step = plan.ramp_ns / u64::from(plan.clients.max(1));
    for p in 0..pages.len() {
        let due = window.phase_start + u64::from(pages[p].clients[0]) * step;
        tokio::select! {
            _ = sleep_until_ns(due) => {}
            _ = plan.cancel.cancelled() => return Ok(()),
        }
        start(plan, driver, &pages[p]).await?;
        for page in pages[..p].iter_mut() {
            collect(driver, page, plan.kind).await?;
        }
    }
    let mut next = pushbench_wire::now_ns();
    let mut shown = next;
    while next < window.close && !plan.cancel.is_cancelled() {
        next += COLLECT_EVERY.as_nanos() as u64;
        tokio::select! {
            _ = sleep_until_ns(next.min(window.close)) => {}
            _ = plan.cancel.cancelled() => {}
        }
        for page in pages.iter_mut() {
            collect(driver, page, plan.kind).await?;
        }
        if next >= shown + 1_000_000_000 {
            shown = next;
            show(plan, pages[0].meter());
        }
    }
    Ok(())
}

/// Starts a page's clients.
async fn start(plan: &Plan, driver: &Driver, page: &Page) -> Result<(), LoadgenError> {
    let topics: Vec<[u32; 2]> = (page.clients.iter())
        .enumerate()
        .map(|(j, &i)| [j as u32, topic_of(i, plan.topics)])
        .collect();
    let args = json!({
        "kind": plan.kind.name(),
        "clients": topics,
        "intervalMs": plan.interval_ms,
        "timeoutMs": plan.timeout_ms,
    });
    driver.switch(&page.window).await?;
    driver.script("start(arguments[0]);", vec![args]).await?;
    Ok(())
}

/// Records what a page's clients saw since the last collection.
async fn collect(
    driver: &Driver,
    page: &mut Page,
    kind: TransportKind,
) -> Result<(), LoadgenError> {
    driver.switch(&page.window).await?;
    let records = driver.script("return drain();", vec![]).await?;
    let Value::Array(records) = records else {
        return Err(LoadgenError::Browser(format!("drain() returned {records}")));
    };
    let polls = matches!(kind, TransportKind::Poll | TransportKind::LongPoll);
    for r in &records {
        record(page, r, polls);
    }
    Ok(())
}

/// One record `[client, what, text, time in ms]`.
fn record(page: &mut Page, r: &Value, polls: bool) {
    let client = r[0].as_u64().unwrap_or(u64::MAX) as usize;
    let (what, text) = (r[1].as_str().unwrap_or(""), r[2].as_str().unwrap_or(""));
    let t = (r[3].as_f64().unwrap_or(0.0) * 1e6).max(0.0) as u64;
    let Page { relay, seqs, .. } = page;
    let m = relay.meter.get().expect("set before the clients start");
    let Some(seq) = seqs.get_mut(client) else {
        m.error(ErrorKind::Protocol);
        return;
    };
    match what {
        "message" => match pushbench_wire::parse_header(text.as_bytes()) {
            Ok(h) => m.message(seq, h, t),
            Err(_) => m.error(ErrorKind::Protocol),
        },
        "cursor" => match text.parse() {
            Ok(c) => seq.start_at(c),
            Err(_) => m.error(ErrorKind::Protocol),
        },
        // As the load generator's own clients count requests: polls only.
        "request" if polls => m.request(t),
        "request" => {}
        "empty" => m.empty_response(t),
        "reconnect" => m.reconnect(),
        "status" => m.error(ErrorKind::Status),
        _ => m.error(ErrorKind::Io),
    }
}

/// The live figures, from the one worker's stats.
fn show(plan: &Plan, meter: &Meter) {
    plan.progress.store(0, meter.snapshot());
}

/// The page's whole HTTP answer. Cross-origin isolated (COOP and COEP), so that
/// `performance.now()` is precise to 5 µs in Chromium rather than 100 µs; closed after the
/// answer, so that the page's connection carries nothing counted.
fn page_answer() -> Rc<[u8]> {
    let body = with_browser_clients(include_str!("page.html"));
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\n\
         cross-origin-opener-policy: same-origin\r\ncross-origin-embedder-policy: require-corp\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    Rc::from((head + &body).into_bytes())
}
