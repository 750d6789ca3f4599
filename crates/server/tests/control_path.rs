//! The control path does not wait for the data path (issue 17): `/stats` and
//! `/control/*` are served on the server's control thread, so they answer while every
//! thread that serves data connections is busy. Here the data runtime is made completely
//! unable to run anything (a task on it sleeps in a blocking call); `/stats`, a workload
//! and a stop are still answered, and answered while it is still blocked, which is read
//! from a flag rather than timed. A push connection opened meanwhile is served once the
//! data runtime is free again.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long the data runtime is blocked. The control requests need a few milliseconds of
/// CPU; this leaves them three orders of magnitude more, for a busy machine.
const BLOCKED_FOR: Duration = Duration::from_secs(4);

/// One request on a connection of its own, answered and closed: the status line and body.
fn exchange(addr: SocketAddr, method: &str, path: &str, body: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn control_requests_are_answered_while_the_data_runtime_cannot_run() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    let handle = rt.handle().clone();
    let server = std::thread::spawn(move || {
        rt.block_on(pushbench_server::serve(listener, async {
            let _ = stopped.await;
        }))
        .unwrap();
    });
    // Once the server answers, block its (only) data runtime.
    let (status, _) = exchange(addr, "GET", "/stats", "");
    assert!(status.contains(" 200 "), "{status}");
    handle.spawn(async move {
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(BLOCKED_FOR);
        flag.store(false, Ordering::SeqCst);
    });
    while !blocked.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // A push connection now waits for the data runtime; the control requests do not.
    let mut push = TcpStream::connect(addr).unwrap();
    push.write_all(b"GET /poll?topic=0 HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let workload = r#"{"topics":1,"rate":0,"payload_bytes":8}"#;
    let (status, body) = exchange(addr, "POST", "/control/workload", workload);
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = exchange(addr, "GET", "/stats", "");
    assert!(status.contains(" 200 "), "{status}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["topic_heads"], serde_json::json!([0]));
    let (status, _) = exchange(addr, "POST", "/control/stop", "");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        blocked.load(Ordering::SeqCst),
        "answered only after the data runtime was free again"
    );
    // The push connection is answered once the data runtime runs again.
    push.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut first = [0u8; 12];
    push.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(!blocked.load(Ordering::SeqCst));
    drop(push);
    stop.send(()).unwrap();
    server.join().unwrap();
}
