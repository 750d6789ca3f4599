//! The accept loop survives running out of file descriptors (EMFILE).
//!
//! This lowers the process's own RLIMIT_NOFILE and takes every descriptor under it, so it
//! lives alone in this test binary: no other test shares the process while descriptors run
//! out.

use pushbench_testkit::TestServer as Server;
use std::fs::File;
use std::time::Duration;

/// The highest descriptor number open now.
fn highest_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile(lim: &libc::rlimit) {
    // SAFETY: setrlimit reads the struct it is given; lowering the soft limit needs no
    // privilege, and raising it back stays within the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) }, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_loop_survives_descriptor_exhaustion() {
    let server = Server::start().await;
    assert_eq!(server.get("/poll?topic=0").await.status, 200);

    // A low limit, so exhausting it takes few files.
    let original = nofile();
    let low = libc::rlimit {
        rlim_cur: (highest_open_fd() + 64).min(original.rlim_cur),
        rlim_max: original.rlim_max,
    };
    set_nofile(&low);
    let mut fillers = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        fillers.push(f);
    }
    // One descriptor for the client; the server's accept then finds none.
    drop(fillers.pop());
    let client = tokio::net::TcpStream::connect(server.addr).await;
    let mut client = pushbench_testkit::raw::Conn::new(client.expect("connect"));
    client.send_request("GET", "/poll?topic=0", &[], b"").await;
    // The kernel completed the handshake; the accept loop keeps failing and backing off.
    tokio::time::sleep(Duration::from_millis(200)).await;

    drop(fillers);
    set_nofile(&original);
    // Descriptors are back: the waiting connection is accepted and answered.
    let resp = client.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"0\n");
    let stats = server.stats().await;
    assert!(stats["accept_errors"].as_u64() >= Some(1), "{stats}");
    server.shutdown().await;
}
