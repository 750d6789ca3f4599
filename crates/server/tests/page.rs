//! What the live page needs from the server: the page itself at `/`, the server's clock at
//! `/clock`, and `/sse?cursor=` for an `EventSource`, which cannot send `Last-Event-ID` on
//! its first request (docs/protocol.md). The page's behaviour in a browser is
//! `crates/cli/tests/browser.rs`.

use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{message, publish_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_whole_as_html_that_loads_nothing_from_elsewhere() {
    let server = Server::start().await;
    let resp = server.get("/").await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // live.html with the reference clients inlined where it marks their place.
    let page = include_str!("../src/live.html");
    assert!(page.contains(pushbench_model::client::BROWSER_CLIENTS_MARK));
    let whole = pushbench_model::client::with_browser_clients(page);
    assert!(whole.contains("function webSocket(") && whole.contains("class Counters"));
    assert_eq!(resp.body, whole.as_bytes());
    // The browser refuses any load or connection the policy does not name: nothing but the
    // inline script and style, and the page's own origin.
    let policy = resp.header("content-security-policy").expect("a policy");
    for directive in [
        "default-src 'none'",
        "script-src 'unsafe-inline'",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    // And the page names no resource to load, but its empty data: icon.
    let text = resp.text();
    for attr in ["src=", "href=", "@import", "url("] {
        let uses: Vec<_> = text.match_indices(attr).map(|(i, _)| &text[i..]).collect();
        assert!(
            uses.iter().all(|u| u.starts_with("href=\"data:,\"")),
            "{attr}"
        );
    }
    assert_eq!(server.request("POST", "/", b"").await.status, 405);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_reads_the_clock_every_sent_ns_is_stamped_with() {
    let server = Server::start().await;
    for _ in 0..3 {
        let before = pushbench_wire::now_ns();
        let resp = server.get("/clock").await;
        let after = pushbench_wire::now_ns();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/plain"));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        // 16 lowercase hex digits and a newline, as an envelope's sent_ns.
        let text = resp.text();
        assert_eq!(text.len(), 17, "{text:?}");
        assert!(
            text[..16]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(text.ends_with('\n'));
        let read = u64::from_str_radix(&text[..16], 16).unwrap();
        // Read on the same system-wide clock, between our two readings.
        assert!(before <= read && read <= after, "{before} {read} {after}");
    }
    server.shutdown().await;
}

/// The events of `/sse?topic=0` with `query` and `headers`, for the sequence numbers
/// `seqs`, read from a fresh connection.
async fn sse_events(server: &Server, query: &str, headers: &[(&str, &str)], seqs: &[u64]) {
    let mut conn = server.connect().await;
    conn.send_request("GET", &format!("/sse?topic=0{query}"), headers, b"")
        .await;
    assert_eq!(conn.read_head().await.0, 200);
    for &seq in seqs {
        let msg = String::from_utf8(message(seq, 100 + seq, "p")).unwrap();
        let event = format!("id: {seq}\ndata: {msg}\n\n");
        assert_eq!(conn.read_chunk().await.1, event.as_bytes(), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_starts_after_the_query_cursor_and_last_event_id_wins() {
    let server = Server::start().await;
    for seq in 1..=3u64 {
        server.publish(0, &publish_body(100 + seq, "p")).await;
    }
    sse_events(&server, "&cursor=0", &[], &[1, 2, 3]).await;
    sse_events(&server, "&cursor=1", &[], &[2, 3]).await;
    // An EventSource's reconnect: the URL it started with, and the id it saw last.
    sse_events(&server, "&cursor=1", &[("Last-Event-ID", "2")], &[3]).await;
    let ahead = server.get("/sse?topic=0&cursor=4").await;
    assert_eq!(ahead.status, 400);
    assert_eq!(ahead.text(), "cursor 4 is beyond the head 3\n");
    server.shutdown().await;
}
