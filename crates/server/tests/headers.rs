//! `response_headers` of `POST /control/workload` (docs/protocol.md): refused with a
//! one-line reason when a field breaks the rules, and otherwise added, byte for byte, to
//! every answer of the push endpoints and to nothing else.

use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{Conn, publish_body};
use pushbench_testkit::ws::KEY;

/// The extra fields the tests configure, and what they cost on the wire: `Name: value\r\n`
/// per field (hyper writes names in lowercase, which does not change their length).
const EXTRA: [(&str, &str); 3] = [
    ("X-Bench", "abc def"),
    ("Set-Cookie", "a=1; Path=/"),
    ("Set-Cookie", "b=2"),
];

fn extra_bytes() -> usize {
    EXTRA.iter().map(|(n, v)| n.len() + 2 + v.len() + 2).sum()
}

fn workload_json(fields: &[(&str, &str)]) -> String {
    let list: Vec<String> = fields
        .iter()
        .map(|(n, v)| format!("[{n:?}, {v:?}]"))
        .collect();
    format!(
        r#"{{"topics": 1, "rate": 0, "payload_bytes": 8, "response_headers": [{}]}}"#,
        list.join(", ")
    )
}

/// Sends `GET target` (with `headers`) on a fresh connection and returns the answer's head
/// exactly as it arrived, and the connection.
async fn head_of(server: &Server, target: &str, headers: &[(&str, &str)]) -> (String, Conn) {
    let mut conn = server.connect().await;
    conn.send_request("GET", target, headers, b"").await;
    let head = conn.take_through(b"\r\n\r\n").await;
    (String::from_utf8(head).expect("ASCII head"), conn)
}

/// The fields of a head, names lowercased, without the status line and Date (whose value
/// changes every second).
fn fields(head: &str) -> Vec<String> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("date:"))
        .map(|l| {
            let (n, v) = l.split_once(": ").expect("a header line");
            format!("{}: {v}", n.to_ascii_lowercase())
        })
        .collect()
}

/// The head of each push endpoint's answer, in order: raw stream 101, poll, long poll
/// (answered at once), stream, SSE, WebSocket 101, publish.
async fn push_heads(server: &Server) -> Vec<String> {
    let ws = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    let raw = [("Connection", "Upgrade"), ("Upgrade", "pushbench-raw")];
    let mut heads = Vec::new();
    for (target, headers) in [
        ("/raw?topic=0", &raw[..]),
        ("/poll?topic=0", &[]),
        ("/longpoll?topic=0", &[]),
        ("/stream?topic=0", &[]),
        ("/sse?topic=0", &[]),
        ("/ws?topic=0", &ws),
    ] {
        heads.push(head_of(server, target, headers).await.0);
    }
    let mut conn = server.connect().await;
    conn.send_request("POST", "/publish?topic=0", &[], &publish_body(1, "x"))
        .await;
    heads.push(String::from_utf8(conn.take_through(b"\r\n\r\n").await).unwrap());
    heads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_answer_carries_the_fields_byte_for_byte() {
    let server = Server::start().await;
    let set = |fields: &'static [(&str, &str)]| {
        let body = workload_json(fields);
        let server = &server;
        async move {
            let resp = server.post("/control/workload", body.as_bytes()).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            resp
        }
    };
    set(&[]).await;
    let plain = push_heads(&server).await;
    let resp = set(&EXTRA).await;
    // The accepted workload is echoed with its fields.
    assert!(
        resp.text().contains(r#"["X-Bench","abc def"]"#),
        "{}",
        resp.text()
    );
    let decorated = push_heads(&server).await;
    let wanted: Vec<String> = EXTRA
        .iter()
        .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
        .collect();
    for (before, after) in plain.iter().zip(&decorated) {
        // Date has the same length whatever the second, so the difference is the fields.
        assert_eq!(after.len(), before.len() + extra_bytes(), "{after}");
        let (b, a) = (fields(before), fields(after));
        let added: Vec<String> = a.iter().filter(|f| !b.contains(f)).cloned().collect();
        assert_eq!(added, wanted, "{after}");
        assert!(b.iter().all(|f| a.contains(f)), "{before} -> {after}");
    }
    // Control answers and /stats stay as they were.
    let stats = server.get("/stats").await;
    assert!(stats.header("x-bench").is_none());
    assert!(resp.header("x-bench").is_none());
    // A workload without fields takes them away again.
    set(&[]).await;
    let again = push_heads(&server).await;
    for (before, after) in plain.iter().zip(&again) {
        assert_eq!(before.len(), after.len(), "{after}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_replaces_the_endpoints_own_field_of_that_name() {
    let server = Server::start().await;
    let body = workload_json(&[("Cache-Control", "no-store")]);
    assert_eq!(
        server
            .post("/control/workload", body.as_bytes())
            .await
            .status,
        200
    );
    let (head, _conn) = head_of(&server, "/sse?topic=0", &[]).await;
    let f = fields(&head);
    let cache: Vec<&String> = f
        .iter()
        .filter(|l| l.starts_with("cache-control"))
        .collect();
    assert_eq!(cache, ["cache-control: no-store"], "{head}");
    assert!(
        f.contains(&"content-type: text/event-stream".to_string()),
        "{head}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fields_are_refused_with_one_line_and_change_nothing() {
    let server = Server::start().await;
    server.workload(3, 0.0, 8).await;
    let long = "v".repeat(8192);
    let many: Vec<(String, String)> = (0..65).map(|i| (format!("X-{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("X Y", "v")], "not a token"),
        (vec![("", "v")], "not a token"),
        (vec![("X", "caf\u{e9}")], "visible ASCII"),
        (vec![("X", " v")], "visible ASCII"),
        (vec![("X", "a\tb")], "visible ASCII"),
        (vec![("Content-Length", "5")], "framing"),
        (vec![("Transfer-Encoding", "chunked")], "framing"),
        (vec![("Connection", "close")], "framing"),
        (vec![("Upgrade", "h2c")], "framing"),
        (
            vec![("Content-Type", "text/html")],
            "each endpoint sets its own",
        ),
        (
            vec![("Date", "Mon, 01 Jan 2024 00:00:00 GMT")],
            "current date",
        ),
        (vec![("Sec-WebSocket-Accept", "x")], "handshake"),
        (vec![("X-A", "1"), ("x-a", "2")], "given twice"),
        (many, "at most 64"),
        (vec![("X", long.as_str())], "at most 8192"),
    ];
    for (fields, says) in cases {
        let resp = server
            .post("/control/workload", workload_json(&fields).as_bytes())
            .await;
        let reason = resp.text();
        assert_eq!(resp.status, 400, "{fields:?}: {reason}");
        assert!(reason.starts_with("response_headers: "), "{reason}");
        assert!(reason.contains(says), "{fields:?}: {reason}");
        assert_eq!(reason.matches('\n').count(), 1, "one line: {reason}");
    }
    // A value that is not a [name, value] pair is bad JSON for the workload.
    let resp = server
        .post(
            "/control/workload",
            br#"{"topics": 1, "rate": 0, "payload_bytes": 8, "response_headers": [["X"]]}"#,
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    // Nothing changed: still the three topics of the last accepted workload.
    let stats = server.stats().await;
    assert_eq!(stats["topic_heads"].as_array().unwrap().len(), 3);
    let (head, _conn) = head_of(&server, "/poll?topic=2", &[]).await;
    assert_eq!(
        fields(&head),
        ["content-type: text/plain", "content-length: 2"]
    );
    server.shutdown().await;
}
