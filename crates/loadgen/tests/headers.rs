//! `[http]` header fields, counted on the wire. Every expected byte count is built here from
//! the request and answer heads written out line by line (HTTP/1.1 syntax: `Name: value`
//! and CRLF per field, RFC 9112 §5), and for the `browser` profiles from the header lines
//! `docs/headers.md` lists, never from the code under test.
//!
//! The phases publish one message per 1,000 s, so every cursor in a request is `0` or `1`:
//! every request of a kind then has the same length, and every answer's length follows from
//! whether it carries the one message. Counters are compared exactly; nothing is timed.

use pushbench_loadgen::{PhaseResult, PhaseSpec, Progress, run_phase};
use pushbench_testkit::{TestServer, WAIT};
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Phases share two cores with each other otherwise; each test holds this for its run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PAYLOAD: u64 = 8;
/// The envelope (16 hex, space, 16 hex, space) and the payload.
const MESSAGE: u64 = 34 + PAYLOAD;
/// Long polls are answered empty after this long.
const HOLD_MS: u64 = 200;
const CLIENTS: u64 = 2;

/// The raw stream and every push transport, two clients each, against one message per
/// 1,000 s. The window
/// opens 1 s after the clients start: their first request (a poll without a cursor, or the
/// set-up of a stream) and its answer are over by then even on a busy machine.
fn broadcast(http: &str) -> String {
    format!(
        r#"
        name = "headers"
        duration = "1s"
        warmup = "1s"
        ramp_up = "0s"
        [workload]
        rate = 0.001
        payload_bytes = {PAYLOAD}
        [[transports]]
        kind = "raw"
        clients = {CLIENTS}
        [[transports]]
        kind = "poll"
        clients = {CLIENTS}
        interval = "100ms"
        [[transports]]
        kind = "long-poll"
        clients = {CLIENTS}
        timeout = "{HOLD_MS}ms"
        [[transports]]
        kind = "stream"
        clients = {CLIENTS}
        [[transports]]
        kind = "sse"
        clients = {CLIENTS}
        [[transports]]
        kind = "websocket"
        clients = {CLIENTS}
        {http}
        "#
    )
}

/// Echo over HTTP: each client publishes 10 messages/s with `POST /publish` on a second
/// connection and receives them on a stream, which sends nothing after its set-up; so every
/// byte a client writes in the window is a publish request.
fn echo(http: &str) -> String {
    format!(
        r#"
        name = "headers-echo"
        duration = "1s"
        warmup = "1s"
        ramp_up = "0s"
        [workload]
        pattern = "echo"
        rate = 10
        payload_bytes = {PAYLOAD}
        [[transports]]
        kind = "stream"
        clients = {CLIENTS}
        {http}
        "#
    )
}

async fn run(server: &TestServer, text: &str) -> Vec<PhaseResult> {
    let sc = pushbench_loadgen::scenario::parse(Path::new("headers.toml"), text)
        .expect("test scenario parses");
    let mut out = Vec::new();
    for t in &sc.transports {
        let spec = PhaseSpec {
            scenario: &sc,
            transport: t,
            repetition: 1,
            sweep: None,
            server: server.addr,
            cancel: CancellationToken::new(),
            progress: Arc::new(Progress::new(sc.loadgen_threads)),
            control_token: None,
            baseline: Default::default(),
            target: None,
            shard: None,
            clock: Default::default(),
        };
        let r = tokio::time::timeout(WAIT, run_phase(spec))
            .await
            .expect("phase ends by itself")
            .expect("phase runs");
        assert_eq!(r.errors.total(), 0, "{}: {:?}", r.label, r.errors);
        assert_eq!(r.counters.reconnects, 0, "{}", r.label);
        assert_eq!(r.counters.connections_opened, r.connections, "{}", r.label);
        out.push(r);
    }
    out
}

/// `Name: value` CRLF.
fn line(name: &str, value: &str) -> u64 {
    (name.len() + 2 + value.len() + 2) as u64
}

/// The bytes of header lines as written in docs/headers.md, one per line, CRLF each.
fn lines(text: &str) -> u64 {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.len() as u64 + 2)
        .sum()
}

/// The request heads of pushbench's clients, field by field, with `extra` bytes of
/// profile or scenario fields.
struct Requests {
    host: u64,
}

impl Requests {
    fn new(server: &TestServer) -> Self {
        Requests {
            host: line("host", &server.addr.to_string()),
        }
    }

    /// `GET /poll?topic=0&cursor=C` with a one-digit cursor.
    fn poll(&self, extra: u64) -> u64 {
        "GET /poll?topic=0&cursor=0 HTTP/1.1\r\n".len() as u64 + self.host + extra + 2
    }

    fn long_poll(&self, extra: u64) -> u64 {
        let target = format!("GET /longpoll?topic=0&cursor=0&timeout={HOLD_MS} HTTP/1.1\r\n");
        target.len() as u64 + self.host + extra + 2
    }

    /// A raw stream's set-up: `GET /raw?topic=0`, Host, the two fields of its upgrade and
    /// `extra` bytes of fields; then the `101` (docs/protocol.md): the status line, the
    /// same two fields as the server writes them, Date and `resp_extra`.
    fn raw_setup(&self, extra: u64, resp_extra: u64) -> u64 {
        let request = "GET /raw?topic=0 HTTP/1.1\r\n".len() as u64
            + self.host
            + extra
            + line("connection", "Upgrade")
            + line("upgrade", "pushbench-raw")
            + 2;
        let answer = "HTTP/1.1 101 Switching Protocols\r\n".len() as u64
            + line("connection", "upgrade")
            + line("upgrade", "pushbench-raw")
            + line("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            + resp_extra
            + 2;
        request + answer
    }

    /// `POST /publish` to a one-digit topic with its publish body (16 hex digits, a space,
    /// the payload), `extra` besides the minimal Content-Type.
    fn publish(&self, content_type: u64, extra: u64) -> u64 {
        let body = 17 + PAYLOAD;
        let length = line("content-length", &body.to_string());
        "POST /publish?topic=0 HTTP/1.1\r\n".len() as u64
            + self.host
            + content_type
            + extra
            + length
            + 2
            + body
    }
}

/// Bytes of a poll or long-poll answer head: status line, Content-Type, Content-Length of
/// a body of `body` bytes, Date (29 characters, RFC 9110 §5.6.7), the `extra` fields and the
/// blank line (docs/protocol.md).
fn answer_head(body: u64, extra: u64) -> u64 {
    "HTTP/1.1 200 OK\r\n".len() as u64
        + line("content-type", "text/plain")
        + line("content-length", &body.to_string())
        + line("date", "Sun, 06 Nov 1994 08:49:37 GMT")
        + extra
        + 2
}

/// What a poll or long-poll phase read in its window: every answer is the empty one
/// (`1\n`, or `0\n` before the message) or the one message after the cursor line.
fn answers_down(r: &PhaseResult, extra: u64) -> u64 {
    let c = &r.counters;
    let empty = 2;
    let one = 2 + MESSAGE + 1;
    c.empty_responses * (answer_head(empty, extra) + empty)
        + c.messages_delivered * (answer_head(one, extra) + one)
}

/// Checks the poll and long-poll phases of a broadcast run: every request `req_extra`
/// bytes longer than the minimal one, every answer `resp_extra` longer.
fn check_polls(results: &[PhaseResult], req: &Requests, req_extra: u64, resp_extra: u64) {
    let polls = results
        .iter()
        .filter(|r| matches!(r.label.as_str(), "poll" | "long-poll"));
    for r in polls {
        let c = &r.counters;
        assert!(c.requests >= 4, "{}: {c:?}", r.label);
        let each = match r.label.as_str() {
            "poll" => req.poll(req_extra),
            _ => req.long_poll(req_extra),
        };
        assert_eq!(
            c.bytes_up,
            c.requests * each,
            "{}: {each} per request, {c:?}",
            r.label
        );
        assert!(c.empty_responses >= 2, "{}: {c:?}", r.label);
        assert_eq!(
            c.bytes_down,
            answers_down(r, resp_extra),
            "{}: {c:?}",
            r.label
        );
    }
}

/// The phases of a connection set up once: the raw stream, stream, SSE, WebSocket.
fn streaming(results: &[PhaseResult]) -> impl Iterator<Item = &PhaseResult> {
    results
        .iter()
        .filter(|r| !matches!(r.label.as_str(), "poll" | "long-poll"))
}

/// Checks that each streaming connection (raw stream, stream, SSE, WebSocket) of `with` set
/// up with exactly `extra[i]` bytes more than in `without`.
fn check_setups(without: &[PhaseResult], with: &[PhaseResult], extra: [u64; 4]) {
    for ((a, b), extra) in streaming(without).zip(streaming(with)).zip(extra) {
        assert_eq!(a.label, b.label);
        assert_eq!(b.counters.connections_opened, CLIENTS, "{}", b.label);
        assert_eq!(
            b.counters.setup_bytes,
            a.counters.setup_bytes + CLIENTS * extra,
            "{}: {extra} more per connection",
            b.label
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_header_adds_its_line_to_every_request() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let req = Requests::new(&server);
    let field = ("X-Pushbench-Trace", "0123456789abcdef");
    let http = format!("[http.request_headers]\n{} = \"{}\"", field.0, field.1);
    let delta = line(field.0, field.1);
    assert_eq!(delta, 17 + 2 + 16 + 2);

    let without = run(&server, &broadcast("")).await;
    let with = run(&server, &broadcast(&http)).await;
    check_polls(&without, &req, 0, 0);
    check_polls(&with, &req, delta, 0);
    // The set-up of a raw stream, a stream, an SSE stream and a WebSocket is one request.
    check_setups(&without, &with, [delta; 4]);
    assert_eq!(with[0].label, "raw");
    assert_eq!(
        with[0].counters.setup_bytes,
        CLIENTS * req.raw_setup(delta, 0)
    );

    let minimal_type = line("content-type", "text/plain");
    for (text, extra) in [(echo(""), 0), (echo(&http), delta)] {
        let r = &run(&server, &text).await[0];
        let c = &r.counters;
        assert!(c.requests >= 2 * 8, "{c:?}");
        let each = req.publish(minimal_type, extra);
        assert_eq!(c.bytes_up, c.requests * each, "{each} per publish, {c:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_header_adds_its_line_to_every_answer() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let req = Requests::new(&server);
    let field = ("Via", "1.1 edge-proxy");
    let http = format!("[http.response_headers]\n{} = \"{}\"", field.0, field.1);
    let delta = line(field.0, field.1);
    assert_eq!(delta, 3 + 2 + 14 + 2);

    let without = run(&server, &broadcast("")).await;
    let with = run(&server, &broadcast(&http)).await;
    check_polls(&without, &req, 0, 0);
    check_polls(&with, &req, 0, delta);
    // The set-up of a stream and an SSE stream includes the answer's head, that of a
    // WebSocket and a raw stream the 101.
    check_setups(&without, &with, [delta; 4]);
    assert_eq!(
        with[0].counters.setup_bytes,
        CLIENTS * req.raw_setup(0, delta)
    );
    server.shutdown().await;
}

/// docs/headers.md, `browser` request profile: the lines of a `fetch` GET, besides Host.
const FETCH: &str = r#"
    Connection: keep-alive
    sec-ch-ua-platform: "Linux"
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36
    sec-ch-ua: "Not:A-Brand";v="8", "Chromium";v="156"
    sec-ch-ua-mobile: ?0
    Accept: */*
    Sec-Fetch-Site: same-origin
    Sec-Fetch-Mode: cors
    Sec-Fetch-Dest: empty
    Referer: https://app.example.com/live
    Accept-Encoding: gzip, deflate, br, zstd
    Accept-Language: en-US,en;q=0.9
    Cookie: session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; _ga=GA1.1.1834629517.1750000000; _ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0
"#;

/// A `fetch` POST, besides Host and Content-Length.
const PUBLISH: &str = r#"
    Connection: keep-alive
    sec-ch-ua-platform: "Linux"
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36
    sec-ch-ua: "Not:A-Brand";v="8", "Chromium";v="156"
    Content-Type: text/plain;charset=UTF-8
    sec-ch-ua-mobile: ?0
    Accept: */*
    Origin: https://app.example.com
    Sec-Fetch-Site: same-origin
    Sec-Fetch-Mode: cors
    Sec-Fetch-Dest: empty
    Referer: https://app.example.com/live
    Accept-Encoding: gzip, deflate, br, zstd
    Accept-Language: en-US,en;q=0.9
    Cookie: session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; _ga=GA1.1.1834629517.1750000000; _ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0
"#;

/// An `EventSource`, besides Host (and Last-Event-ID when it resumes).
const EVENT_SOURCE: &str = r#"
    Connection: keep-alive
    Pragma: no-cache
    Cache-Control: no-cache
    sec-ch-ua-platform: "Linux"
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36
    Accept: text/event-stream
    sec-ch-ua: "Not:A-Brand";v="8", "Chromium";v="156"
    sec-ch-ua-mobile: ?0
    Sec-Fetch-Site: same-origin
    Sec-Fetch-Mode: cors
    Sec-Fetch-Dest: empty
    Referer: https://app.example.com/live
    Accept-Encoding: gzip, deflate, br, zstd
    Accept-Language: en-US,en;q=0.9
    Cookie: session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; _ga=GA1.1.1834629517.1750000000; _ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0
"#;

/// A `WebSocket` handshake, besides Host, Connection, Upgrade, Sec-WebSocket-Version and
/// Sec-WebSocket-Key.
const WEBSOCKET: &str = r#"
    Pragma: no-cache
    Cache-Control: no-cache
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36
    Origin: https://app.example.com
    Accept-Encoding: gzip, deflate, br, zstd
    Accept-Language: en-US,en;q=0.9
    Cookie: session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; csrftoken=kX9vQ2mLr7TzW4pHn8YcB3dFj6GsA1eU; _ga=GA1.1.1834629517.1750000000; _ga_K7Q2M9XW4P=GS2.1.s1750000000$o3$g1$t1750000420$j60$l0$h0
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
"#;

/// docs/headers.md, `browser` response profile, besides the Date every answer has.
const RESPONSE: &str = r#"
    Server: nginx
    Cache-Control: no-cache, no-store, max-age=0, must-revalidate
    Pragma: no-cache
    Expires: 0
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000 ; includeSubDomains
    X-Frame-Options: DENY
    X-XSS-Protection: 0
    Set-Cookie: session=Zjk0NzE1OTItMGU2Ni00YTJmLWI5ZDAtNzQwYzQ3ZTliM2Ex; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax
"#;

#[test]
fn the_documented_tables_add_up_to_the_documented_totals() {
    // The totals docs/headers.md gives for each table, and the cookie's size.
    assert_eq!(
        [FETCH, PUBLISH, EVENT_SOURCE, WEBSOCKET, RESPONSE].map(lines),
        [648, 721, 705, 541, 374]
    );
    let cookie = FETCH
        .lines()
        .find_map(|l| l.trim().strip_prefix("Cookie: "));
    assert_eq!(cookie.map(str::len), Some(195));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_profiles_cost_what_docs_headers_md_lists() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let req = Requests::new(&server);
    let browser = "[http]\nprofile = \"browser\"\nresponse_profile = \"browser\"";
    let without = run(&server, &broadcast("")).await;
    let with = run(&server, &broadcast(browser)).await;
    check_polls(&with, &req, lines(FETCH), lines(RESPONSE));
    // Minimal requests already carry an SSE Accept, and SSE answers a Cache-Control, which
    // the profiles replace.
    let sse_accept = line("accept", "text/event-stream");
    let sse_cache = line("cache-control", "no-cache");
    // The raw stream's upgrade carries the fields of a page's WebSocket.
    check_setups(
        &without,
        &with,
        [
            lines(WEBSOCKET) + lines(RESPONSE),
            lines(FETCH) + lines(RESPONSE),
            lines(EVENT_SOURCE) - sse_accept + lines(RESPONSE) - sse_cache,
            lines(WEBSOCKET) + lines(RESPONSE),
        ],
    );
    assert_eq!(
        with[0].counters.setup_bytes,
        CLIENTS * req.raw_setup(lines(WEBSOCKET), lines(RESPONSE))
    );
    let r = &run(&server, &echo(browser)).await[0];
    let c = &r.counters;
    let each = req.publish(0, lines(PUBLISH));
    assert!(c.requests >= 2 * 8, "{c:?}");
    assert_eq!(c.bytes_up, c.requests * each, "{each} per publish, {c:?}");
    server.shutdown().await;
}
