//! Processes as Linux's `/proc` shows them: their state, parent and CPU
//! time, the tree below one of them, and waiting for a tree to end.

use std::time::Duration;

use super::Attempt;

/// What `/proc/<pid>/stat` says of a process (Linux).
pub struct Stat {
    /// `R`, `S`, `Z` (exited, not yet reaped) ...
    pub state: char,
    pub parent: u32,
    /// User and system CPU time of all its threads, in clock ticks.
    pub cpu_ticks: u64,
    /// Clock ticks after boot: tells a process from a later one that got
    /// its pid.
    pub started: u64,
}

/// The process `pid` as `/proc` shows it; `None` when there is none.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so
    // the fields are counted from the last `)`; field 3 (state) is index 0.
    let fields: Vec<&str> = text[text.rfind(')')? + 2..].split(' ').collect();
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        cpu_ticks: number(11)? + number(12)?,
        started: number(19)?,
    })
}

/// Every descendant of `root` now (its children, theirs, and so on), with
/// each one's start time, from `/proc`.
pub fn descendants(root: u32) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<(u32, Stat)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, stat) in all.iter().filter(|(_, s)| s.parent == parent) {
            found.push((*pid, stat.started));
            frontier.push(*pid);
        }
    }
    found
}

/// Waits up to `limit` for `processes` (pids with their start times, from
/// [`descendants`]) to exit, then kills those left. For the helpers a
/// browser or a webview starts: they outlive their parent by a moment, and
/// a run must not end before they do.
pub async fn outlived(processes: &[(u32, u64)], limit: Duration) {
    let alive = || {
        processes
            .iter()
            .filter(|(pid, started)| {
                stat(*pid).is_some_and(|s| s.started == *started && s.state != 'Z')
            })
            .map(|(pid, _)| *pid)
            .collect::<Vec<_>>()
    };
    // Past the limit, the loop's error is no failure: those left are killed.
    let _ = super::poll_until(limit, Duration::from_millis(50), || async {
        Ok(match alive().len() {
            0 => Attempt::Done(()),
            left => Attempt::NotYet(format!("{left} still running")),
        })
    })
    .await;
    #[cfg(unix)]
    for pid in alive() {
        use nix::sys::signal::{Signal as Nix, kill};
        if let Ok(pid) = i32::try_from(pid) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Nix::SIGKILL);
        }
    }
}

/// `sysconf(_SC_CLK_TCK)`: the unit of [`Stat`]'s times.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}
