//! The HTTP transports and endpoints, checked byte for byte against docs/protocol.md.

use pushbench_server::ServerConfig;
use pushbench_testkit::raw::{message, publish_body};
use pushbench_testkit::{TestServer as Server, WAIT};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_starts_at_head_and_returns_messages_after_cursor() {
    let server = Server::start().await;
    server.workload(2, 0.0, 0).await;

    let resp = server.get("/poll?topic=1").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.header("content-length"), Some("2"));
    assert_eq!(resp.body, b"0\n");

    server.publish(1, &publish_body(5, "hello")).await;
    server.publish(1, &publish_body(0xff, "x")).await;

    let resp = server.get("/poll?topic=1&cursor=0").await;
    assert_eq!(resp.status, 200);
    let mut expected = b"2\n".to_vec();
    expected.extend_from_slice(b"0000000000000001 0000000000000005 hello\n");
    expected.extend_from_slice(b"0000000000000002 00000000000000ff x\n");
    assert_eq!(resp.text(), String::from_utf8(expected.clone()).unwrap());
    assert_eq!(
        resp.header("content-length"),
        Some(expected.len().to_string().as_str())
    );

    let resp = server.get("/poll?topic=1&cursor=1").await;
    assert_eq!(
        resp.body,
        [&b"2\n"[..], &message(2, 0xff, "x"), b"\n"].concat()
    );
    // Without a cursor: the head and no messages.
    assert_eq!(server.get("/poll?topic=1").await.body, b"2\n");
    // An up-to-date cursor gets the empty answer.
    assert_eq!(server.get("/poll?topic=1&cursor=2").await.body, b"2\n");
    // The other topic is untouched.
    assert_eq!(server.get("/poll?topic=0&cursor=0").await.body, b"0\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_after_ring_overflow_starts_at_oldest_retained() {
    let config = ServerConfig {
        ring_capacity: 3,
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    for i in 1..=5 {
        server.publish(0, &publish_body(i, "p")).await;
    }
    // Seqs 3, 4, 5 remain; the client at cursor 1 sees the gap 2 and counts it as lost.
    let resp = server.get("/poll?topic=0&cursor=1").await;
    let expected = [
        &b"5\n"[..],
        &message(3, 3, "p"),
        b"\n",
        &message(4, 4, "p"),
        b"\n",
        &message(5, 5, "p"),
        b"\n",
    ]
    .concat();
    assert_eq!(resp.body, expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longpoll_is_held_until_a_publish() {
    let server = Server::start().await;
    server.workload(1, 0.0, 3).await;

    let mut held = server.connect().await;
    held.send_request("GET", "/longpoll?topic=0&cursor=0&timeout=20000", &[], b"")
        .await;
    // Nothing to answer with, so nothing may arrive.
    assert!(
        held.quiet_for(Duration::from_millis(100)).await,
        "answered early"
    );

    server.publish(0, &publish_body(7, "abc")).await;
    let published_at = Instant::now();
    let resp = held.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body,
        [&b"1\n"[..], &message(1, 7, "abc"), b"\n"].concat()
    );
    // Far below the 20 s timeout: the publish, not the timer, released it.
    assert!(published_at.elapsed() < WAIT);

    // A cursor with messages behind it answers at once with all of them.
    let resp = server.get("/longpoll?topic=0&cursor=0&timeout=20000").await;
    assert_eq!(
        resp.body,
        [&b"1\n"[..], &message(1, 7, "abc"), b"\n"].concat()
    );
    // Without a cursor it answers at once with the head.
    assert_eq!(server.get("/longpoll?topic=0").await.body, b"1\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longpoll_times_out_with_the_empty_answer() {
    let server = Server::start().await;
    server.publish(0, &publish_body(1, "a")).await;
    let started = Instant::now();
    let resp = server.get("/longpoll?topic=0&cursor=1&timeout=200").await;
    let waited = started.elapsed();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"1\n");
    assert!(
        waited >= Duration::from_millis(200),
        "answered after {waited:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longpoll_default_timeout_comes_from_config() {
    let config = ServerConfig {
        longpoll_timeout: Duration::from_millis(150),
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    let started = Instant::now();
    let resp = server.get("/longpoll?topic=0&cursor=0").await;
    assert_eq!(resp.body, b"0\n");
    assert!(started.elapsed() >= Duration::from_millis(150));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sends_one_chunk_per_message() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    server.publish(0, &publish_body(1, "before")).await;

    let mut conn = server.connect().await;
    conn.send_request("GET", "/stream?topic=0", &[], b"").await;
    let (status, headers) = conn.read_head().await;
    assert_eq!(status, 200);
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("transfer-encoding"), Some("chunked"));
    assert_eq!(header("content-type"), Some("text/plain"));
    // The stream starts after the head: the earlier message is not sent.
    assert!(conn.quiet_for(Duration::from_millis(50)).await);

    server.publish(0, &publish_body(0xabc, "hello")).await;
    let msg = message(2, 0xabc, "hello");
    let m = msg.len();
    let expected_head = format!("{:x}\r\n", m + 1);
    let raw = conn.take(expected_head.len() + m + 1 + 2).await;
    let (size, rest) = raw.split_at(expected_head.len());
    assert!(
        size.eq_ignore_ascii_case(expected_head.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(size)
    );
    assert_eq!(rest, [&msg[..], b"\n\r\n"].concat());

    server.publish(0, &publish_body(0xabd, "again")).await;
    let (_, data) = conn.read_chunk().await;
    assert_eq!(data, [&message(3, 0xabd, "again")[..], b"\n"].concat());

    // With a cursor, the retained messages after it come first, one chunk each.
    let mut replay = server.connect().await;
    replay
        .send_request("GET", "/stream?topic=0&cursor=1", &[], b"")
        .await;
    replay.read_head().await;
    assert_eq!(replay.read_chunk().await.1, [&msg[..], b"\n"].concat());
    assert_eq!(
        replay.read_chunk().await.1,
        [&message(3, 0xabd, "again")[..], b"\n"].concat()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_sends_events_and_replays_after_last_event_id() {
    let server = Server::start().await;
    let mut conn = server.connect().await;
    conn.send_request("GET", "/sse?topic=0", &[], b"").await;
    let (status, headers) = conn.read_head().await;
    assert_eq!(status, 200);
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("text/event-stream"));
    assert_eq!(header("cache-control"), Some("no-cache"));
    assert_eq!(header("transfer-encoding"), Some("chunked"));

    server.publish(0, &publish_body(9, "ev")).await;
    let msg = message(1, 9, "ev");
    let event = [&b"id: 1\ndata: "[..], &msg, b"\n\n"].concat();
    // e = 4 + len(dec(seq)) + 1 + 6 + m + 2
    assert_eq!(event.len(), 4 + 1 + 1 + 6 + msg.len() + 2);
    let (size, data) = conn.read_chunk().await;
    assert_eq!(usize::from_str_radix(&size, 16).unwrap(), event.len());
    assert_eq!(data, event);

    server.publish(0, &publish_body(10, "ev")).await;
    server.publish(0, &publish_body(11, "ev")).await;
    let mut again = server.connect().await;
    again
        .send_request("GET", "/sse?topic=0", &[("Last-Event-ID", "1")], b"")
        .await;
    again.read_head().await;
    for (seq, sent) in [(2u64, 10u64), (3, 11)] {
        let expected = format!(
            "id: {seq}\ndata: {}\n\n",
            String::from_utf8(message(seq, sent, "ev")).unwrap()
        );
        assert_eq!(again.read_chunk().await.1, expected.as_bytes());
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_sends_heartbeat_when_idle() {
    let config = ServerConfig {
        sse_heartbeat: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = Server::start_with(config).await;
    let mut conn = server.connect().await;
    conn.send_request("GET", "/sse?topic=0", &[], b"").await;
    conn.read_head().await;
    let (size, data) = conn.read_chunk().await;
    assert_eq!(size, "3");
    assert_eq!(data, b":\n\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_one_line_reasons() {
    let server = Server::start().await;
    server.workload(2, 0.0, 0).await;
    for target in [
        "/poll?topic=2",
        "/poll?topic=abc",
        "/poll",
        "/poll?topic=-1",
        "/poll?topic=0&cursor=5",
        "/poll?topic=0&cursor=x",
        "/longpoll?topic=9&cursor=0",
        "/stream?topic=2",
        "/sse?topic=99999999999999999999999",
        "/ws?topic=7",
    ] {
        let resp = server.get(target).await;
        assert_eq!(resp.status, 400, "{target}");
        assert_eq!(resp.header("content-type"), Some("text/plain"), "{target}");
        let text = resp.text();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{target}: {text:?}"
        );
    }
    let resp = server.post("/publish?topic=0", b"not a publish body").await;
    assert_eq!(resp.status, 400);
    let resp = server.get("/nope").await;
    assert_eq!(resp.status, 404);
    // `/` is the live page (tests/page.rs); nothing else under it is served.
    let resp = server.get("/index.html").await;
    assert_eq!(resp.status, 404);
    let resp = server.get("/publish?topic=0").await;
    assert_eq!(resp.status, 405);
    // The server is still fine afterwards.
    assert_eq!(server.get("/poll?topic=1").await.body, b"0\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_workloads_are_refused() {
    let server = Server::start().await;
    for body in [
        r#"{"topics": 0, "rate": 1, "payload_bytes": 1}"#,
        r#"{"topics": 100001, "rate": 1, "payload_bytes": 1}"#,
        r#"{"topics": 1, "rate": -1, "payload_bytes": 1}"#,
        r#"{"topics": 1, "rate": 1000001, "payload_bytes": 1}"#,
        r#"{"topics": 1, "rate": 1, "payload_bytes": 1048577}"#,
        r#"{"topics": 1, "rate": 1}"#,
        r#"not json"#,
    ] {
        let resp = server.post("/control/workload", body.as_bytes()).await;
        assert_eq!(resp.status, 400, "{body}");
        let text = resp.text();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{body}: {text:?}"
        );
    }
    // The accepted workload is echoed.
    let resp = server.workload(3, 20.5, 128).await;
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        echo,
        serde_json::json!({"topics": 3, "rate": 20.5, "payload_bytes": 128})
    );
    // Only the accepted workload counts: shards wait for this count (docs/sharding.md).
    assert_eq!(server.stats().await["workloads"], 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reports_every_documented_field() {
    let server = Server::start().await;
    server.workload(2, 0.0, 4).await;
    server.publish(1, &publish_body(1, "aaaa")).await;
    server.publish(1, &publish_body(2, "bbbb")).await;
    let poll = server.get("/poll?topic=1&cursor=0").await;

    let mut stream = server.connect().await;
    stream
        .send_request("GET", "/stream?topic=1", &[], b"")
        .await;
    stream.read_head().await;
    server.publish(1, &publish_body(3, "cccc")).await;
    let (_, data) = stream.read_chunk().await;
    let m = data.len() - 1;
    assert_eq!(m, 34 + 4);

    let stats = server.stats().await;
    for field in [
        "connections",
        "connections_accepted",
        "messages_published",
        "messages_written",
        "bytes_written",
        "topic_heads",
        "cpu_seconds",
        "rss_bytes",
        "peak_rss_bytes",
    ] {
        assert!(stats.get(field).is_some(), "missing {field}: {stats}");
    }
    let conns = &stats["connections"];
    for kind in ["poll", "long-poll", "stream", "sse", "websocket", "other"] {
        assert!(conns[kind].is_u64(), "connections.{kind}: {stats}");
    }
    assert_eq!(conns["stream"], 1);
    assert!(
        conns["other"].as_u64().unwrap() >= 1,
        "the /stats request itself"
    );
    // workload, 3 publishes, poll, stream, this stats request.
    assert_eq!(stats["connections_accepted"], 7);
    assert_eq!(stats["messages_published"], 3);
    // The one workload this test set.
    assert_eq!(stats["workloads"], 1);
    // Two messages in the poll body (its whole length), one in a chunk of m + 1 data bytes.
    let chunk = format!("{:x}", m + 1).len() + 2 + (m + 1) + 2;
    assert_eq!(stats["messages_written"], 3);
    assert_eq!(stats["bytes_written"], (poll.body.len() + chunk) as u64);
    assert_eq!(stats["topic_heads"], serde_json::json!([0, 3]));
    assert!(stats["cpu_seconds"].as_f64().unwrap() >= 0.0);
    let rss = stats["rss_bytes"].as_u64().unwrap();
    let peak = stats["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss > 0 && peak > 0, "{stats}");

    // The stream connection is no longer counted once it is closed.
    drop(stream);
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = server.stats().await;
        if stats["connections"]["stream"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stream connection still counted: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_counts_under_its_first_request() {
    let server = Server::start().await;
    let mut conn = server.connect().await;
    conn.send_request("GET", "/poll?topic=0", &[], b"").await;
    assert_eq!(conn.read_response().await.body, b"0\n");
    // The same connection now asks for stats: still counted as a poll connection.
    conn.send_request("GET", "/stats", &[], b"").await;
    let stats: serde_json::Value =
        serde_json::from_slice(&conn.read_response().await.body).unwrap();
    assert_eq!(stats["connections"]["poll"], 1, "{stats}");
    assert_eq!(stats["connections"]["other"], 0, "{stats}");
    server.shutdown().await;
}
