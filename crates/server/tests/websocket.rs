//! `/ws`, with the handshake and frames written by hand (RFC 6455).

use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{Conn, message, publish_body};
use std::time::Duration;

/// The example key and accept value of RFC 6455 §1.3:
/// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

async fn open(server: &Server, topic: u64) -> Conn {
    open_at(server, &format!("/ws?topic={topic}")).await
}

async fn open_at(server: &Server, target: &str) -> Conn {
    let mut conn = server.connect().await;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    conn.send_request("GET", target, &headers, b"").await;
    let (status, headers) = conn.read_head().await;
    assert_eq!(status, 101);
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("sec-websocket-accept"), Some(ACCEPT));
    assert!(header("upgrade").unwrap().eq_ignore_ascii_case("websocket"));
    conn
}

/// A client frame: FIN, the opcode, masked with a fixed key, payload of at most 125 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 125);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads one short server frame: (first byte, payload). Server frames are never masked.
async fn read_frame(conn: &mut Conn) -> (u8, Vec<u8>) {
    let head = conn.take(2).await;
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = usize::from(head[1]);
    assert!(len <= 125, "test messages are short");
    (head[0], conn.take(len).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_pushes_echoes_pongs_and_closes() {
    let server = Server::start().await;
    server.workload(2, 0.0, 0).await;
    let mut ws = open(&server, 1).await;

    // A message published after the upgrade arrives as one unmasked text frame.
    server.publish(1, &publish_body(0x55, "pushed")).await;
    let msg = message(1, 0x55, "pushed");
    let raw = ws.take(2 + msg.len()).await;
    assert_eq!(raw[0], 0x81, "FIN + text");
    assert_eq!(usize::from(raw[1]), msg.len());
    assert_eq!(&raw[2..], &msg[..]);

    // A text frame from the client is a publish body, published into the topic.
    ws.write(&client_frame(0x1, &publish_body(0x66, "echo")))
        .await;
    let (first, payload) = read_frame(&mut ws).await;
    assert_eq!(first, 0x81);
    assert_eq!(payload, message(2, 0x66, "echo"));
    // ...and it really is in the topic, for every transport.
    let poll = server.get("/poll?topic=1&cursor=1").await;
    assert_eq!(
        poll.body,
        [&b"2\n"[..], &message(2, 0x66, "echo"), b"\n"].concat()
    );

    // Ping is answered with a pong that carries the same payload.
    ws.write(&client_frame(0x9, b"hi")).await;
    assert_eq!(read_frame(&mut ws).await, (0x8a, b"hi".to_vec()));

    // Close is answered with close (echoing the status code), then the socket ends.
    ws.write(&client_frame(0x8, &1000u16.to_be_bytes())).await;
    assert_eq!(
        read_frame(&mut ws).await,
        (0x88, 1000u16.to_be_bytes().to_vec())
    );
    ws.expect_eof().await;
    assert!(ws.buf.is_empty(), "nothing after the close frame");

    let stats = server.stats().await;
    // Two frames of 2 + m bytes each (m = 34 + payload), plus the poll body.
    assert_eq!(stats["messages_written"], 3);
    let frames = (2 + 34 + 6) + (2 + 34 + 4);
    assert_eq!(stats["bytes_written"], (frames + poll.body.len()) as u64);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_counts_while_open_and_rejects_bad_publish() {
    let server = Server::start().await;
    let mut ws = open(&server, 0).await;
    let stats = server.stats().await;
    assert_eq!(stats["connections"]["websocket"], 1, "{stats}");

    ws.write(&client_frame(0x1, b"not a publish body")).await;
    let (first, payload) = read_frame(&mut ws).await;
    assert_eq!(first, 0x88);
    assert_eq!(&payload[..2], &1008u16.to_be_bytes());
    ws.expect_eof().await;
    await_no_websockets(&server).await;
    server.shutdown().await;
}

/// Waits until the server counts no open WebSocket.
async fn await_no_websockets(server: &Server) {
    let deadline = std::time::Instant::now() + pushbench_testkit::WAIT;
    while server.stats().await["connections"]["websocket"] != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "websocket still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_just_disconnects_is_let_go() {
    // It never sent a frame, so the server was not reading it: the end of its socket
    // must still be noticed.
    let server = Server::start().await;
    let ws = open(&server, 0).await;
    assert_eq!(server.stats().await["connections"]["websocket"], 1);
    drop(ws);
    await_no_websockets(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_sent_along_with_the_handshake_is_answered() {
    // Written together with the upgrade request, the ping reaches the server in the same
    // read as the request head: hyper hands it over with the upgraded socket.
    let server = Server::start().await;
    let mut conn = server.connect().await;
    let mut bytes = format!(
        "GET /ws?topic=0 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(client_frame(0x9, b"early"));
    conn.write(&bytes).await;
    assert_eq!(conn.read_head().await.0, 101);
    assert_eq!(read_frame(&mut conn).await, (0x8a, b"early".to_vec()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_without_key_is_refused() {
    let server = Server::start().await;
    let mut conn = server.connect().await;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
    ];
    conn.send_request("GET", "/ws?topic=0", &headers, b"").await;
    assert_eq!(conn.read_response().await.status, 400);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_websocket_resumes_after_its_cursor() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    for (ts, p) in [(1, "a"), (2, "b"), (3, "c")] {
        server.publish(0, &publish_body(ts, p)).await;
    }
    // Having seen message 1, the client asks for what came after it: 2 and 3, in order.
    let mut ws = open_at(&server, "/ws?topic=0&cursor=1").await;
    assert_eq!(read_frame(&mut ws).await, (0x81, message(2, 2, "b")));
    assert_eq!(read_frame(&mut ws).await, (0x81, message(3, 3, "c")));
    // A cursor beyond the head names messages that do not exist.
    let mut bad = server.connect().await;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    bad.send_request("GET", "/ws?topic=0&cursor=9", &headers, b"")
        .await;
    assert_eq!(bad.read_response().await.status, 400);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sends_every_message_back_as_it_came() {
    let server = Server::start().await;
    let mut ws = open_at(&server, "/echo").await;
    // Any text or binary message, publish body or not, comes back unmasked in one frame of
    // the same opcode: 2 header bytes and the payload (RFC 6455 §5.2, up to 125 bytes).
    for (opcode, payload) in [(0x1, &b"hello"[..]), (0x2, &[0u8, 1, 2, 255][..])] {
        ws.write(&client_frame(opcode, payload)).await;
        assert_eq!(read_frame(&mut ws).await, (0x80 | opcode, payload.to_vec()));
    }
    // A message in two fragments comes back whole.
    let mut first = client_frame(0x1, b"frag");
    first[0] &= 0x7f; // not FIN
    let mut rest = client_frame(0x0, b"ments");
    rest[0] = 0x80; // FIN + continuation
    ws.write(&[first, rest].concat()).await;
    assert_eq!(read_frame(&mut ws).await, (0x81, b"fragments".to_vec()));
    // Ping, pong; close, close.
    ws.write(&client_frame(0x9, b"hi")).await;
    assert_eq!(read_frame(&mut ws).await, (0x8a, b"hi".to_vec()));
    // No topic is involved: the echo is counted under `other` and nothing as written.
    let stats = server.stats().await;
    assert_eq!(stats["connections"]["websocket"], 0, "{stats}");
    assert_eq!(stats["messages_written"], 0);
    ws.write(&client_frame(0x8, &1000u16.to_be_bytes())).await;
    assert_eq!(
        read_frame(&mut ws).await,
        (0x88, 1000u16.to_be_bytes().to_vec())
    );
    ws.expect_eof().await;
    // Without an upgrade, /echo is refused with a reason.
    let plain = server.get("/echo").await;
    assert_eq!(plain.status, 400);
    server.shutdown().await;
}
