//! CPU time and memory of the current process, read from the kernel. Both the server and
//! the load generator report their own cost with these, so the two are measured alike.

/// CPU seconds (user plus system) this process has used since it started.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we hand it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Resident set size now and its peak, in bytes, from `/proc/self/status`.
pub fn memory() -> MemoryUsage {
    parse_status(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

fn parse_status(status: &str) -> MemoryUsage {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    MemoryUsage {
        rss_bytes: field("VmRSS:"),
        peak_rss_bytes: field("VmHWM:"),
    }
}

/// Resets the peak-RSS mark so the next [`memory`] reports the peak from now on. Returns
/// false where the kernel does not allow it (the peak then covers the process's lifetime).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Raises this process's soft limit on open descriptors to its hard limit (each client or
/// server connection holds one) and returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// The CPUs this process may run on now (its affinity mask), in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Parses a CPU list as `taskset -c` and `/sys` write them: `0`, `0-3`, `0,2,4-5`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("expected a CPU list such as 0, 0-1 or 0,2-3, found {text:?}");
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Restricts every thread of this process, and the threads it starts later, to `cpus`
/// (which may lie outside its current mask, as for a child of a pinned parent).
pub fn pin_to(cpus: &[usize]) -> Result<(), String> {
    pin_tasks("/proc/self/task", cpus)
}

/// Restricts every thread of process `pid` (a target's server, say), and the threads and
/// processes it starts later, to `cpus`.
pub fn pin_pid(pid: u32, cpus: &[usize]) -> Result<(), String> {
    pin_tasks(&format!("/proc/{pid}/task"), cpus)
}

fn pin_tasks(tasks_dir: &str, cpus: &[usize]) -> Result<(), String> {
    if cpus.is_empty() || cpus.iter().any(|&c| c >= libc::CPU_SETSIZE as usize) {
        return Err(format!("no usable CPU in {cpus:?}"));
    }
    // SAFETY: as in `allowed_cpus`; CPU_SET only writes inside the set (every CPU is below
    // CPU_SETSIZE, checked above).
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    };
    // Threads started before this call (a runtime's workers) are pinned one by one; new
    // threads inherit the mask of the thread that starts them.
    let tasks = std::fs::read_dir(tasks_dir).map_err(|e| format!("{tasks_dir}: {e}"))?;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: sched_setaffinity reads the set we pass.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            let online =
                std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
            return Err(format!(
                "cannot run on CPUs {} ({}); this machine's online CPUs are {}",
                format_cpu_list(cpus),
                std::io::Error::last_os_error(),
                online.trim()
            ));
        }
    }
    Ok(())
}

/// Writes CPUs as a compact list (`0-3,6`), the form [`parse_cpu_list`] reads.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        out.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    out.join(",")
}

/// CPU time and memory of a process and every process descended from it: what a server
/// pushbench did not write costs (nginx's master and its workers), measured from `/proc`
/// as pushbench's own server measures itself.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeUsage {
    /// User plus system CPU seconds of every process of the tree, and of the children each
    /// has waited for (a worker that exited and was reaped still counts).
    pub cpu_s: f64,
    /// The sum of the processes' resident set sizes now.
    pub rss_bytes: u64,
    /// The sum of the processes' peak resident set sizes since the last
    /// [`reset_tree_peak_rss`]: an upper bound of the tree's peak, since the processes need
    /// not have peaked at the same moment.
    pub peak_rss_bytes: u64,
    /// Processes in the tree.
    pub processes: usize,
}

/// The usage of `root` and its descendants; `None` when `root` is gone.
pub fn tree_usage(root: u32) -> Option<TreeUsage> {
    let ticks = clock_ticks();
    let mut usage = TreeUsage::default();
    for pid in tree_pids(root)? {
        let Some(stat) = read_stat(pid) else { continue };
        usage.cpu_s += stat.cpu_ticks as f64 / ticks;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let m = parse_status(&status);
        usage.rss_bytes += m.rss_bytes;
        usage.peak_rss_bytes += m.peak_rss_bytes;
        usage.processes += 1;
    }
    Some(usage)
}

/// Resets the peak-RSS mark of every process of the tree (as [`reset_peak_rss`] does for
/// this one); false when `root` is gone or the kernel refused for one of them.
pub fn reset_tree_peak_rss(root: u32) -> bool {
    tree_pids(root).is_some_and(|pids| {
        pids.iter()
            .all(|p| std::fs::write(format!("/proc/{p}/clear_refs"), "5").is_ok())
    })
}

/// `root` and its descendants, root first; `None` when `root` is gone.
pub fn tree_pids(root: u32) -> Option<Vec<u32>> {
    read_stat(root)?;
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?.ppid)))
        .collect();
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        pids.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    Some(pids)
}

/// The fields of `/proc/PID/stat` a tree's usage needs.
struct Stat {
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    cpu_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Reads a `/proc/PID/stat` line: the command name is in parentheses and may hold spaces
/// and parentheses itself, so the fields are counted from the last `)` (proc(5)).
fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the name: state (3), ppid (4), ..., utime (14) to cstime (17), numbered as in
    // proc(5); `fields[0]` is field 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)? + field(16)? + field(17)?,
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Resident memory of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Resident set size now.
    pub rss_bytes: u64,
    /// Highest resident set size since start or the last reset.
    pub peak_rss_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0-2,5, 7").unwrap(), vec![0, 1, 2, 5, 7]);
        assert_eq!(parse_cpu_list("3,1-2,1").unwrap(), vec![1, 2, 3]);
        for bad in ["", "a", "2-1", "1-", "-1", "0,,1", "99999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn parses_status_fields() {
        let s = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n";
        let m = parse_status(s);
        assert_eq!((m.rss_bytes, m.peak_rss_bytes), (1024 * 1024, 2048 * 1024));
        assert_eq!(parse_status(""), MemoryUsage::default());
    }

    #[test]
    fn open_files_limit_is_raised_to_the_hard_limit() {
        let now = raise_open_files_limit();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        assert_eq!(now, lim.rlim_cur);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
    }

    #[test]
    fn stat_lines_with_odd_names() {
        let line = "42 (a (b) c) S 7 42 42 0 -1 4194560 100 0 0 0 30 12 5 3 20 0 1 0 99 1000 50";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.ppid, s.cpu_ticks), (7, 30 + 12 + 5 + 3));
        assert!(parse_stat("42 (x").is_none());
    }

    #[test]
    fn a_tree_holds_its_children_and_their_usage() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let usage = tree_usage(me).unwrap();
        assert!(usage.processes >= 2, "{usage:?}");
        assert!(usage.rss_bytes >= memory().rss_bytes);
        assert!(tree_pids(me).unwrap().contains(&child.id()));
        assert!(reset_tree_peak_rss(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(tree_usage(child.id()).is_none());
    }

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let spin = (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(cpu_seconds() > 0.0);
        assert!(memory().rss_bytes > 0);
    }
}
