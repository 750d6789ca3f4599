//! The server of a target: started for the run, in a temporary directory of its own on a
//! free loopback port, when the target file gives its command; or found running by its
//! process id. Either way the load generator then reads its process tree's CPU and memory
//! from `/proc`.

use crate::CliError;
use pushbench_loadgen::parsers::parse_head;
use pushbench_loadgen::target::{PidSource, ServerPlan, StartPlan, TargetPlan, TargetRun, Var};
use pushbench_wire::process;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A target's server for the length of a run.
pub(crate) struct TargetServer {
    pub(crate) run: TargetRun,
    /// The process pushbench started, stopped after the run.
    child: Option<Child>,
    /// Its directory, removed after the run.
    dir: Option<PathBuf>,
    /// Bytes the readiness requests carried, both directions, so that a packet capture of
    /// the run adds up (recorded as `probe_control_bytes` in `meta.json`).
    pub(crate) probe_bytes: u64,
}

impl TargetServer {
    /// Starts the target's server, or finds the one running; pins a started one to `cpus`.
    pub(crate) async fn start(
        plan: TargetPlan,
        cpus: Option<&[usize]>,
    ) -> Result<TargetServer, CliError> {
        match plan.server.clone() {
            ServerPlan::Start(start) => launch(plan, &start, cpus).await,
            ServerPlan::Running { base, pid } => attach(plan, &base, &pid),
        }
    }

    /// What `meta.json` says the server was.
    pub(crate) fn describe(&self) -> String {
        let p = &self.run.plan;
        match self.child {
            Some(_) => format!(
                "target {} ({}), started by pushbench on {}",
                p.name,
                p.path.display(),
                self.run.addr
            ),
            None => format!(
                "target {} ({}) at {}, pid {}",
                p.name,
                p.path.display(),
                self.run.addr,
                self.run.pid
            ),
        }
    }

    /// Stops a server pushbench started (SIGTERM, then SIGKILL for every process of its
    /// tree still there after 5 s) and removes its directory; leaves a running one alone.
    pub(crate) async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let tree = process_tree(self.run.pid);
        signal(self.run.pid, libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
        // Workers whose master was killed would outlive it.
        for pid in tree {
            if process::tree_usage(pid).is_some() {
                signal(pid, libc::SIGKILL);
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A server left running when the run ends without [`TargetServer::stop`] (a second Ctrl-C,
/// an error after the start): killed with its whole tree, since a master killed alone
/// (`kill_on_drop`) would leave nginx's workers holding the port.
impl Drop for TargetServer {
    fn drop(&mut self) {
        if self.child.take().is_some() {
            for pid in process_tree(self.run.pid) {
                signal(pid, libc::SIGKILL);
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn failed(plan: &TargetPlan, why: String) -> CliError {
    CliError::Target {
        name: plan.name.clone(),
        why,
    }
}

/// Starts the server: its files written into a fresh directory, its command run there with
/// a free port, then its readiness URL asked until it answers 2xx.
async fn launch(
    plan: TargetPlan,
    start: &StartPlan,
    cpus: Option<&[usize]>,
) -> Result<TargetServer, CliError> {
    let dir =
        fresh_dir(&plan.name).map_err(|e| failed(&plan, format!("temporary directory: {e}")))?;
    let vars = ServerVars {
        port: free_port().map_err(|e| failed(&plan, format!("no free port: {e}")))?,
        exe: std::env::current_exe().map_err(|e| failed(&plan, format!("own path: {e}")))?,
        cpus: cpus
            .map_or_else(|| process::allowed_cpus().len(), <[usize]>::len)
            .max(1),
        dir,
    };
    let mut child = match spawn(start, &vars) {
        Ok(c) => c,
        Err(why) => {
            let _ = std::fs::remove_dir_all(&vars.dir);
            return Err(failed(&plan, why));
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], vars.port));
    let ready = start
        .ready
        .after_base()
        .expect("checked: URLs start with {base}")
        .expand(|v| vars.value(v));
    let waited = wait_ready(&mut child, addr, &ready, start.ready_timeout, &vars.dir).await;
    let probe_bytes = match waited {
        Ok(bytes) => bytes,
        Err(why) => {
            let _ = child.kill().await;
            let _ = std::fs::remove_dir_all(&vars.dir);
            return Err(failed(&plan, why));
        }
    };
    let pid = child
        .id()
        .ok_or_else(|| failed(&plan, "exited as it became ready".into()))?;
    if let Some(cpus) = cpus {
        for p in process_tree(pid) {
            process::pin_pid(p, cpus).map_err(|e| failed(&plan, e))?;
        }
    }
    Ok(TargetServer {
        run: TargetRun::new(plan, addr, pid),
        child: Some(child),
        dir: Some(vars.dir),
        probe_bytes,
    })
}

/// The values of a started server's variables.
struct ServerVars {
    port: u16,
    dir: PathBuf,
    exe: PathBuf,
    cpus: usize,
}

impl ServerVars {
    fn value(&self, v: Var) -> String {
        match v {
            Var::Port => self.port.to_string(),
            Var::Dir => self.dir.display().to_string(),
            Var::Pushbench => self.exe.display().to_string(),
            Var::Cpus => self.cpus.to_string(),
            Var::Base => format!("http://127.0.0.1:{}", self.port),
            other => unreachable!("checked: {{{}}} is not the server's", other.name()),
        }
    }
}

/// Writes the server's files into its directory and starts its command there, its output
/// into `stdout.log` and `stderr.log`; the error says why not.
fn spawn(start: &StartPlan, vars: &ServerVars) -> Result<Child, String> {
    for (name, text) in &start.files {
        std::fs::write(vars.dir.join(name), text.expand(|v| vars.value(v)))
            .map_err(|e| format!("writing {name}: {e}"))?;
    }
    let args: Vec<String> = start
        .command
        .iter()
        .map(|a| a.expand(|v| vars.value(v)))
        .collect();
    let log = |name: &str| std::fs::File::create(vars.dir.join(name)).map(Stdio::from);
    let (out, err) = match (log("stdout.log"), log("stderr.log")) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return Err(format!("log files: {e}")),
    };
    Command::new(&args[0])
        .args(&args[1..])
        .current_dir(&vars.dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let hint = start
                .install
                .as_deref()
                .map_or_else(String::new, |i| format!("; install it: {i}"));
            format!("cannot start `{}`: {e}{hint}", args[0])
        })
}

/// Asks `path` every 50 ms until it answers 2xx, and returns the bytes the requests
/// carried; the error says why it never did.
async fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    dir: &Path,
) -> Result<u64, String> {
    let started = Instant::now();
    let mut last = String::from("no answer");
    let mut bytes = 0;
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "exited with {status} before it was ready{}",
                last_words(dir)
            ));
        }
        match get_status(addr, path, &mut bytes).await {
            Ok(s) if (200..300).contains(&s) => return Ok(bytes),
            Ok(s) => last = format!("answered {s}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "not ready within {}: GET http://{addr}{path}: {last}{}",
        humantime::format_duration(timeout),
        last_words(dir)
    ))
}

/// The last line the server wrote to an `error.log` in its directory (nginx's) or else to
/// its stderr, as `; it said: ...`, or nothing.
fn last_words(dir: &Path) -> String {
    ["error.log", "stderr.log"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .filter_map(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .next()
        .map_or_else(String::new, |l| format!("; it said: {}", l.trim()))
}

/// One `GET` on a fresh connection, read to its close; the answer's status. Adds the bytes
/// both ways to `bytes`.
async fn get_status(addr: SocketAddr, path: &str, bytes: &mut u64) -> std::io::Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    *bytes += req.len() as u64;
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    *bytes += buf.len() as u64;
    read.map_err(|_| std::io::Error::other("no answer within 2 s"))??;
    match parse_head(&buf) {
        Ok(Some(head)) => Ok(head.status),
        _ => Err(std::io::Error::other("closed without an answer")),
    }
}

/// A server that runs already: its address from `base`, its process from the file.
fn attach(plan: TargetPlan, base: &str, pid: &PidSource) -> Result<TargetServer, CliError> {
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .map_err(|_| failed(&plan, format!("bad base {base:?}")))?;
    let pid = match pid {
        PidSource::Pid(p) => *p,
        PidSource::File(f) => std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                t.trim()
                    .parse()
                    .map_err(|_| format!("{:?} is not a process id", t.trim()))
            })
            .map_err(|e| failed(&plan, format!("pid_file {}: {e}", f.display())))?,
    };
    if process::tree_usage(pid).is_none() {
        return Err(failed(&plan, format!("no process {pid} is running")));
    }
    Ok(TargetServer {
        run: TargetRun::new(plan, addr, pid),
        child: None,
        dir: None,
        probe_bytes: 0,
    })
}

/// A new directory under the system's temporary directory, only this process's.
fn fresh_dir(name: &str) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "pushbench-{name}-{}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// A loopback port nothing listens on now: bound, read and released, for the server to
/// bind. Another process could take it in between; the server then fails to start, and
/// says so.
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn process_tree(root: u32) -> Vec<u32> {
    process::tree_pids(root).unwrap_or_default()
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid of the server's tree; no memory is involved.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}
