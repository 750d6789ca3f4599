//! A server started by `pushbench run` as a child process, so that the server's CPU and
//! memory are measured apart from the load generator's.

use crate::CliError;
use pushbench_loadgen::Scenario;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What `pushbench serve` prints, followed by the address, once it is listening.
pub(crate) const READY_PREFIX: &str = "pushbench server listening on ";

pub(crate) struct ServerChild {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerChild {
    /// Starts `pushbench serve` from `exe` (this executable when `None`), on `cpus` only
    /// when given. Another executable must be a pushbench that serves with the same command
    /// line and control protocol, such as a build of another commit.
    pub(crate) async fn start(
        scenario: &Scenario,
        cpus: Option<&str>,
        exe: Option<&Path>,
    ) -> Result<ServerChild, CliError> {
        let exe = match exe {
            Some(path) => path.to_owned(),
            None => std::env::current_exe()
                .map_err(|e| CliError::Child(format!("cannot find my own executable: {e}")))?,
        };
        let mut cmd = Command::new(&exe);
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--ring-capacity"])
            .arg(scenario.ring_capacity.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(t) = scenario.server_threads {
            cmd.arg("--threads").arg(t.to_string());
        }
        if let Some(r) = scenario.server_runtime {
            cmd.args(["--runtime", r.name()]);
        }
        if let Some(cpus) = cpus {
            cmd.arg("--cpus").arg(cpus);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| CliError::Child(format!("cannot start {}: {e}", exe.display())))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| CliError::Child("did not report its address within 10 s".into()))?
            .map_err(|e| CliError::Child(format!("reading its output: {e}")))?
            .ok_or_else(|| CliError::Child("exited before it was listening".into()))?;
        let addr = line
            .strip_prefix(READY_PREFIX)
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| CliError::Child(format!("unexpected first line {line:?}")))?;
        // Keep draining its stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerChild { child, addr })
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 seconds.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
