//! The server with `ServerRuntime::PerCore`: connections dealt round robin over threads of
//! the server's own, each with a single-threaded runtime. The checks other files make on
//! the shared runtime, in brief: every transport delivers (the raw stream's take-over of
//! the upgraded socket included), a WebSocket publishes, connections are counted and
//! limited, shutdown answers and closes everything, and the worker threads end with the
//! server.
//!
//! One test, alone in this binary, because it counts the process's threads by name.

use pushbench_server::{ServerConfig, ServerRuntime};
use pushbench_testkit::raw::{Conn, message, publish_body};
use pushbench_testkit::ws::{CLOSE, TEXT, client_frame, open_ws, read_close, read_frame};
use pushbench_testkit::{TestServer as Server, WAIT};
use std::time::{Duration, Instant};

const THREADS: usize = 3;
const MAX_CONNECTIONS: usize = 8;

/// `PF_EXITING` in a thread's `/proc/.../stat` flags (include/linux/sched.h): set when the
/// thread enters the kernel's exit path, before a `join` of it can return. A joined thread
/// can stay listed in `/proc/self/task` a little longer (until the kernel unhashes it), so
/// it is told apart by this flag, not by waiting a guessed time.
const PF_EXITING: u64 = 0x4;

/// Bytes each of the server's worker threads that has not begun to exit has written with
/// system calls so far (Linux keeps the first 15 bytes of a thread's name).
fn worker_writes() -> Vec<u64> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|e| {
            let dir = e.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !name.starts_with("pushbench-srv") {
                return None;
            }
            // The fields after the name, which is in parentheses and may hold anything;
            // `flags` is the 9th field of the line, the 7th after the name.
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 1..];
            let flags: u64 = after_name.split_whitespace().nth(6)?.parse().ok()?;
            if flags & PF_EXITING != 0 {
                return None;
            }
            let io = std::fs::read_to_string(dir.join("io")).ok()?;
            io.lines()
                .find_map(|l| l.strip_prefix("wchar: "))
                .and_then(|n| n.trim().parse().ok())
        })
        .collect()
}

/// Asks `/stats` on the keep-alive connection `probe` (which counts itself) until
/// `connections_open` is `n`, failing the test after [`WAIT`].
async fn await_open(probe: &mut Conn, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        probe.send_request("GET", "/stats", &[], b"").await;
        let stats: serde_json::Value =
            serde_json::from_slice(&probe.read_response().await.body).expect("stats is JSON");
        if stats["connections_open"].as_u64() == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "connections_open never {n}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(server: &Server, target: &str) -> Conn {
    let mut conn = server.connect().await;
    conn.send_request("GET", target, &[], b"").await;
    conn
}

/// A long poll waiting for what follows `cursor`, a stream, an SSE stream, a WebSocket and
/// a raw stream, all on topic 0, each with its head read (the long poll's is the answer,
/// held for now).
async fn subscribers(server: &Server, cursor: u64) -> [Conn; 5] {
    let target = format!("/longpoll?topic=0&cursor={cursor}&timeout=60000");
    let longpoll = get(server, &target).await;
    let mut stream = get(server, "/stream?topic=0").await;
    assert_eq!(stream.read_head().await.0, 200);
    let mut sse = get(server, "/sse?topic=0").await;
    assert_eq!(sse.read_head().await.0, 200);
    let ws = open_ws(server, 0).await;
    let mut raw = server.connect().await;
    raw.upgrade_raw("/raw?topic=0").await;
    [longpoll, stream, sse, ws, raw]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_core_runtime_serves_every_transport_and_shuts_down() {
    assert!(worker_writes().is_empty());
    let server = Server::start_with(ServerConfig {
        runtime: ServerRuntime::PerCore { threads: THREADS },
        max_connections: MAX_CONNECTIONS,
        ..ServerConfig::default()
    })
    .await;
    // Answered, so `serve_with` has started its threads.
    server.workload(1, 0.0, 0).await;
    assert_eq!(worker_writes().len(), THREADS);
    server.publish(0, &publish_body(1, "first")).await;

    // Four subscribers and the publishing connections: more connections than threads, so
    // every thread serves some.
    let [mut longpoll, mut stream, mut sse, mut ws, mut raw] = subscribers(&server, 1).await;
    assert!(longpoll.quiet_for(Duration::from_millis(50)).await);
    // Published over the WebSocket: its reader task runs on a worker thread too.
    ws.write(&client_frame(true, TEXT, &publish_body(0x22, "hello")))
        .await;
    let msg = message(2, 0x22, "hello");
    let line = [&msg[..], b"\n"].concat();

    let resp = longpoll.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, [&b"2\n"[..], &line].concat());
    assert_eq!(stream.read_chunk().await.1, line);
    let event = [&b"id: 2\ndata: "[..], &msg, b"\n\n"].concat();
    assert_eq!(sse.read_chunk().await.1, event);
    let frame = read_frame(&mut ws).await;
    assert_eq!((frame.opcode(), frame.payload), (TEXT, msg.clone()));
    assert_eq!(raw.take(line.len()).await, line);
    let poll = server.get("/poll?topic=0&cursor=1").await;
    assert_eq!(poll.body, [&b"2\n"[..], &line].concat());

    let stats = server.stats().await;
    for (kind, n) in [("stream", 1), ("sse", 1), ("websocket", 1), ("raw", 1)] {
        assert_eq!(stats["connections"][kind], n, "{stats}");
    }
    assert_eq!(stats["messages_published"], 2, "{stats}");
    // Dealt round robin, the first connections (workload, publish, subscribers) landed on
    // every thread, and each thread wrote their answers itself.
    let writes = worker_writes();
    assert!(writes.iter().all(|&w| w > 0), "{writes:?}");

    // Connections closed on the worker threads are uncounted: with the subscribers gone only
    // the probe is open, and the limit applies to what is open.
    drop((longpoll, stream, sse, ws, raw));
    let mut probe = server.connect().await;
    await_open(&mut probe, 1).await;
    let mut held = Vec::new();
    for _ in 1..MAX_CONNECTIONS {
        let mut conn = get(&server, "/poll?topic=0").await;
        assert_eq!(conn.read_response().await.status, 200);
        held.push(conn);
    }
    let mut extra = get(&server, "/poll?topic=0").await;
    assert_eq!(extra.read_response().await.status, 503);
    drop(held);
    await_open(&mut probe, 1).await;
    drop(probe);

    // Shutdown answers the held long poll, ends the streams, closes the WebSocket with
    // 1001 and the raw stream's connection, and stops the threads before `serve_with`
    // returns.
    let [mut longpoll, mut stream, mut sse, mut ws, mut raw] = subscribers(&server, 2).await;
    assert!(longpoll.quiet_for(Duration::from_millis(50)).await);
    let addr = server.addr;
    server.begin_shutdown();
    let resp = longpoll.read_response().await;
    assert_eq!((resp.status, resp.text()), (200, "2\n".to_string()));
    for conn in [&mut stream, &mut sse] {
        conn.expect_eof().await;
        assert!(conn.buf.ends_with(b"0\r\n\r\n"));
    }
    assert_eq!(read_close(&mut ws).await, 1001);
    raw.expect_eof().await;
    assert!(raw.buf.is_empty(), "a raw stream has no end marker");
    ws.write(&client_frame(true, CLOSE, &1001u16.to_be_bytes()))
        .await;
    ws.expect_eof().await;
    server.shutdown().await;
    assert!(worker_writes().is_empty());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
