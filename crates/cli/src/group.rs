//! `pushbench serve --processes N`: one server of N processes sharing one port
//! (SO_REUSEPORT), for more connections than one process may hold descriptors for, and the
//! side of it each process runs (docs/sharding.md, "A server of several processes").
//!
//! This process, the supervisor, binds the address with SO_REUSEPORT without listening on
//! it (so that port 0 is resolved and the port stays this group's, while the kernel hands
//! connections only to listening sockets), then starts N children `pushbench serve --addr
//! ADDR --reuse-port --member`. Each child binds the shared address, binds a control
//! address of its own on 127.0.0.1:0, prints it ([`CONTROL_PREFIX`]), reads its peers'
//! control addresses from its stdin (one line, comma-separated), and serves
//! (`pushbench_server::serve_member`). Once every child is listening, the supervisor
//! prints the ready line `pushbench run` and the scripts read, and waits for SIGINT or
//! SIGTERM, which it passes on; a child that exits on its own ends the group (exit 1),
//! since a server missing a member would lose its subscribers silently.
//!
//! Starting N processes from one command, rather than leaving it to a script, keeps the
//! peer list (known only once every child has bound its control port) inside pushbench,
//! and keeps the group one address and one process to stop.

use crate::child::READY_PREFIX;
use crate::{CliError, ServeOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// What a member prints, followed by its own control address, before it reads its peers.
pub(crate) const CONTROL_PREFIX: &str = "pushbench member control ";

/// How long a child may take to bind its addresses, and to start serving once given its
/// peers.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the children have to exit after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A process of a group the supervisor started.
struct Member {
    child: Child,
    /// Its stdout, until a task that drains it takes it over.
    lines: Option<Lines<BufReader<ChildStdout>>>,
    control: SocketAddr,
}

/// Runs the supervisor of `processes` members serving `opts` until SIGINT or SIGTERM.
pub(crate) async fn supervise(opts: ServeOptions, processes: usize) -> Result<(), CliError> {
    let bind = |source| CliError::Bind {
        addr: opts.addr,
        source,
    };
    let socket = reserve(opts.addr).map_err(bind)?;
    let addr = socket.local_addr().map_err(bind)?;
    pushbench_server::check_exposure(addr, opts.control_token.as_deref())?;
    let mut members = Vec::with_capacity(processes);
    for i in 0..processes {
        members.push(start(&opts, addr, i).await?);
    }
    let controls: Vec<SocketAddr> = members.iter().map(|m| m.control).collect();
    for (i, m) in members.iter_mut().enumerate() {
        let peers: Vec<String> = controls
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.to_string())
            .collect();
        let stdin = m.child.stdin.as_mut().expect("stdin is piped");
        let line = format!("{}\n", peers.join(","));
        stdin.write_all(line.as_bytes()).await.map_err(|e| {
            CliError::Child(format!("process {}: cannot send its peers: {e}", i + 1))
        })?;
    }
    for (i, m) in members.iter_mut().enumerate() {
        let mut lines = m.lines.take().expect("read once");
        let line = next_line(&mut lines, i).await?;
        if !line.starts_with(READY_PREFIX) {
            return Err(CliError::Child(format!(
                "process {}: unexpected line {line:?}",
                i + 1
            )));
        }
        // Keep draining its stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    println!("{READY_PREFIX}{addr}");
    let ended = wait(&mut members).await;
    stop(members).await;
    drop(socket);
    ended
}

/// The shared address, bound with SO_REUSEPORT but not listening.
fn reserve(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseport(true)?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Starts member `i` and reads its control address.
async fn start(opts: &ServeOptions, addr: SocketAddr, i: usize) -> Result<Member, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Child(format!("cannot find my own executable: {e}")))?;
    let mut cmd = Command::new(&exe);
    cmd.arg("serve")
        .arg("--addr")
        .arg(addr.to_string())
        .args(["--reuse-port", "--member"])
        .args(["--runtime", opts.runtime_kind.name()])
        .arg("--ring-capacity")
        .arg(opts.ring_capacity.to_string())
        .arg("--shutdown-timeout")
        .arg(opts.shutdown_timeout.as_secs().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(t) = opts.threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    if let Some(t) = &opts.control_token {
        cmd.arg("--control-token").arg(t);
    }
    if let Some(cpus) = &opts.cpus {
        cmd.arg("--cpus").arg(cpus);
    }
    if let Some(r) = opts.publisher_max_rate {
        cmd.arg("--publisher-max-rate").arg(r.to_string());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::Child(format!("cannot start {}: {e}", exe.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = next_line(&mut lines, i).await?;
    let control = line
        .strip_prefix(CONTROL_PREFIX)
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| CliError::Child(format!("process {}: unexpected line {line:?}", i + 1)))?;
    Ok(Member {
        child,
        lines: Some(lines),
        control,
    })
}

async fn next_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    i: usize,
) -> Result<String, CliError> {
    let n = i + 1;
    tokio::time::timeout(START_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| {
            CliError::Child(format!(
                "process {n} did not start within {START_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| CliError::Child(format!("process {n}: reading its output: {e}")))?
        .ok_or_else(|| CliError::Child(format!("process {n} exited before it was serving")))
}

/// Until SIGINT or SIGTERM (`Ok`), or until a member exits on its own (`Err`).
async fn wait(members: &mut [Member]) -> Result<(), CliError> {
    let exits = members.iter_mut().enumerate().map(|(i, m)| {
        Box::pin(async move {
            let status = m.child.wait().await;
            (i, status)
        })
    });
    let any_exit = async {
        let mut exits: Vec<_> = exits.collect();
        std::future::poll_fn(|cx| {
            for e in exits.iter_mut() {
                if let std::task::Poll::Ready(out) = e.as_mut().poll(cx) {
                    return std::task::Poll::Ready(out);
                }
            }
            std::task::Poll::Pending
        })
        .await
    };
    tokio::select! {
        () = crate::shutdown_signal() => Ok(()),
        (i, status) = any_exit => Err(CliError::Child(format!(
            "process {} of the server exited ({}); stopping the others",
            i + 1,
            status.map_or_else(|e| e.to_string(), |s| s.to_string())
        ))),
    }
}

/// SIGTERM to every member, then SIGKILL to those still running after [`STOP_TIMEOUT`].
async fn stop(members: Vec<Member>) {
    for m in &members {
        if let Some(pid) = m.child.id() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
    }
    for mut m in members {
        if tokio::time::timeout(STOP_TIMEOUT, m.child.wait())
            .await
            .is_err()
        {
            let _ = m.child.kill().await;
        }
    }
}

/// A member's side of the start: binds its own control address on loopback, prints it,
/// and reads its peers' from stdin.
pub(crate) async fn join() -> Result<(tokio::net::TcpListener, Vec<SocketAddr>), CliError> {
    // A supervisor that dies without passing a signal on (SIGKILL) must not leave its
    // members serving: each gets SIGTERM then, and shuts down as on any SIGTERM. The
    // signal follows the thread that started the process, which is the supervisor's one
    // runtime thread (its main thread), alive as long as the supervisor.
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets which signal this process gets.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let bind = |source| CliError::Bind { addr: any, source };
    let control = tokio::net::TcpListener::bind(any).await.map_err(bind)?;
    let own = control.local_addr().map_err(bind)?;
    println!("{CONTROL_PREFIX}{own}");
    // Blocking, before anything is served: there is nothing else for this process to do.
    let mut line = String::new();
    let read = std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::Child(format!("reading my peers from stdin: {e}")))?;
    // The supervisor closed stdin (it stopped) before naming the peers: serving alone would
    // make a member that is not the group's.
    if read == 0 {
        return Err(CliError::Child(
            "stdin closed before the peers' addresses arrived".into(),
        ));
    }
    let peers = parse_peers(line.trim()).map_err(|why| CliError::BadOption {
        option: "--member",
        why,
    })?;
    Ok((control, peers))
}

/// A comma-separated list of addresses (`--peers`, and what a member reads); empty for none.
pub fn parse_peers(list: &str) -> Result<Vec<SocketAddr>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("expected ADDRESS:PORT[,ADDRESS:PORT...], found {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_lists_parse_or_name_the_bad_entry() {
        assert_eq!(parse_peers(""), Ok(vec![]));
        assert_eq!(
            parse_peers("127.0.0.1:1, 127.0.0.2:2"),
            Ok(vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.2:2".parse().unwrap()
            ])
        );
        let e = parse_peers("127.0.0.1:1,localhost:2").unwrap_err();
        assert!(e.contains("\"localhost:2\""), "{e}");
    }
}
