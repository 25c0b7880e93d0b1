//! Ground: the one process layer. Every program the xtask starts goes
//! through here: commands run to completion with `> cmd` echoed, and
//! long-running processes spawned with their output captured, awaited until
//! ready (a line they print, or a probe), stopped with SIGTERM and awaited.
//! Also the one polling loop, and free ports.

use std::future::Future;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::repo;

/// What a started process inherits.
mod environment;
/// Processes as Linux's `/proc` shows them.
mod linux;

pub use environment::without_inherited_telemetry;
pub use linux::{clock_ticks_per_second, descendants, outlived, stat};

/// Runs a command from the root, echoing it as `> cmd args`; fails on a
/// non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    run_with_env(program, args, &[])
}

/// As [`run`], with extra environment variables (not echoed: they may hold
/// credentials).
pub fn run_with_env(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    println!("> {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo::root())
        .status()
        .with_context(|| format!("cannot run {program}; is it installed?"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `command` to completion with its output captured; its stdout, or an
/// error with everything it printed.
pub fn output(command: &mut std::process::Command) -> Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}; is it installed?"))?;
    if !output.status.success() {
        bail!(
            "{program} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether `program args` runs and exits 0 (a probe for an installed tool).
pub fn succeeds(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A port nothing listens on right now, chosen at random below the
/// kernel's ephemeral range when it can be. A port from that range (what
/// binding port 0 gives) can be handed, before the process meant to listen
/// on it has started, to any outgoing connection as its local port, which
/// then makes that listener fail with "address in use"; ports below the
/// range are only ever taken by a bind that names them.
pub fn free_port() -> Result<u16> {
    use std::hash::{BuildHasher as _, Hasher as _};
    if let Some(below) = ephemeral_low().filter(|low| *low > 10_000 + 1_000) {
        for _ in 0..64 {
            // std's hasher keys are random per instance: a random number
            // without a crate for it.
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let port = 10_000 + (random % u64::from(below - 10_000)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The first port of the kernel's ephemeral range, on Linux.
fn ephemeral_low() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// One try of a [`poll_until`] loop.
pub enum Attempt<T> {
    Done(T),
    /// Not yet, and why: the last reason is the error at the deadline.
    NotYet(String),
}

/// The error of a [`poll_until`] that reached its deadline (as opposed to
/// an attempt that failed): says what the last attempt found.
#[derive(Debug)]
pub struct TimedOut {
    pub limit: Duration,
    pub why: String,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "still not so after {:?}: {}", self.limit, self.why)
    }
}

impl std::error::Error for TimedOut {}

/// Calls `attempt` every `every` until it is done, for at most `limit` (an
/// attempt still running at the deadline is cut off). An error from
/// `attempt` ends the loop at once; at the deadline the error says what the
/// last attempt found.
pub async fn poll_until<T, F, Fut>(
    limit: Duration,
    every: Duration,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>>>,
{
    let deadline = Instant::now() + limit;
    let mut last = String::from("no attempt finished");
    loop {
        let outcome = tokio::time::timeout_at(deadline.into(), attempt()).await;
        let Ok(outcome) = outcome else {
            let why = format!("{last} (the last attempt was still running)");
            return Err(TimedOut { limit, why }.into());
        };
        match outcome? {
            Attempt::Done(value) => return Ok(value),
            Attempt::NotYet(why) if Instant::now() >= deadline => {
                return Err(TimedOut { limit, why }.into());
            }
            Attempt::NotYet(why) => {
                last = why;
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// Lines a process printed, stdout and stderr interleaved, and a wake-up
/// for each new one.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    /// Streams that reached their end (2: the process closed both).
    closed: Mutex<usize>,
    changed: Notify,
}

impl Output {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_closed(&self) -> bool {
        *self.closed.lock().unwrap_or_else(|p| p.into_inner()) == 2
    }

    fn read_from(
        self: &Arc<Self>,
        stream: Option<impl AsyncRead + Unpin + Send + 'static>,
    ) {
        let output = self.clone();
        tokio::spawn(async move {
            if let Some(stream) = stream {
                // Bytes, not `lines()`: a line that is not UTF-8 is kept
                // (lossily) instead of ending the read, so the pipe is
                // drained until the process closes it.
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader
                    .read_until(b'\n', &mut line)
                    .await
                    .is_ok_and(|n| n > 0)
                {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']).to_owned();
                    output.lines().push(text);
                    output.changed.notify_waiters();
                    line.clear();
                }
            }
            *output.closed.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            output.changed.notify_waiters();
        });
    }
}

/// A running process whose output is kept (for error messages and ready
/// lines). Killed if dropped; [`Running::stop`] ends it gracefully.
pub struct Running {
    pub name: String,
    child: Child,
    output: Arc<Output>,
}

impl Running {
    /// Spawns `command` with stdin closed and stdout and stderr captured.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Running> {
        let mut child = spawn_captured(name, command)?;
        let output = Arc::new(Output::default());
        output.read_from(child.stdout.take());
        output.read_from(child.stderr.take());
        Ok(Running {
            name: name.to_owned(),
            child,
            output,
        })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything it printed so far.
    pub fn output_lines(&self) -> Vec<String> {
        self.output.lines().clone()
    }

    /// Its last 20 lines, for error messages.
    pub fn output_tail(&self) -> String {
        let lines = self.output.lines();
        let start = lines.len().saturating_sub(20);
        lines[start..].join("\n")
    }

    /// Waits until it prints a line starting with `prefix` and returns the
    /// rest of that line, trimmed; fails if it exits first or `limit` passes.
    pub async fn wait_for_line(
        &mut self,
        prefix: &str,
        limit: Duration,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.output.changed.notified();
            if let Some(rest) = self
                .output
                .lines()
                .iter()
                .find_map(|line| line.strip_prefix(prefix))
            {
                return Ok(rest.trim().to_owned());
            }
            if self.output.is_closed() {
                // Closed both streams: it exited, or is about to; a process
                // that closes them and runs on is waited for up to the deadline.
                let status =
                    tokio::time::timeout_at(deadline, self.child.wait()).await;
                let status = match status {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "still running, its output closed".to_owned(),
                };
                bail!(
                    "{} exited ({status}) without printing `{prefix}…`:\n{}",
                    self.name,
                    self.output_tail()
                );
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!(
                    "{} did not print `{prefix}…` within {limit:?}:\n{}",
                    self.name,
                    self.output_tail()
                );
            }
        }
    }

    /// Waits until `probe` says it is ready; fails if it exits first or
    /// `limit` passes.
    pub async fn wait_until<F, Fut>(
        &mut self,
        limit: Duration,
        mut probe: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let name = self.name.clone();
        let result = poll_until(limit, Duration::from_millis(100), || {
            let exited = self.child.try_wait().ok().flatten();
            let ready = probe();
            let name = name.clone();
            async move {
                if let Some(status) = exited {
                    bail!("{name} exited ({status}) before it was ready");
                }
                Ok(if ready.await {
                    Attempt::Done(())
                } else {
                    Attempt::NotYet(format!("{name} is not ready"))
                })
            }
        })
        .await;
        result.with_context(|| format!("its output:\n{}", self.output_tail()))
    }

    /// SIGTERM, then waits up to `limit` for it to exit, and fails unless it
    /// exits successfully: the book's services flush their telemetry then.
    pub async fn stop(&mut self, limit: Duration) -> Result<()> {
        let Some(pid) = self.child.id() else {
            bail!(
                "{} had exited before SIGTERM:\n{}",
                self.name,
                self.output_tail()
            );
        };
        signal(pid, Signal::Terminate);
        match self.wait_exit(limit).await? {
            status if status.success() => Ok(()),
            status => bail!(
                "{} exited with {status} after SIGTERM:\n{}",
                self.name,
                self.output_tail()
            ),
        }
    }

    /// Sends `signal` (nothing when it has exited already).
    pub fn signal(&self, signal_to_send: Signal) {
        if let Some(pid) = self.child.id() {
            signal(pid, signal_to_send);
        }
    }

    /// Sends `signal`, then waits up to `limit` for the exit, whatever its
    /// status (a third-party program that sends what it holds on SIGTERM).
    pub async fn end(
        mut self,
        signal_to_send: Signal,
        limit: Duration,
    ) -> Option<ExitStatus> {
        self.signal(signal_to_send);
        self.wait_exit(limit).await.ok()
    }

    /// Waits up to `limit` for the exit (killing it after that).
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => {
                Ok(status.with_context(|| format!("waiting for {}", self.name))?)
            }
            Err(_) => {
                let _ = self.child.kill().await;
                bail!(
                    "{} did not exit within {limit:?}:\n{}",
                    self.name,
                    self.output_tail()
                )
            }
        }
    }
}

/// The signals the xtask sends.
#[derive(Clone, Copy)]
pub enum Signal {
    /// SIGTERM: what orchestrators send; the book's services shut down.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGSTOP: no thread of it runs until SIGCONT, as Lambda freezes a
    /// function that has answered.
    Freeze,
    /// SIGCONT: it runs again.
    Thaw,
    /// SIGKILL: gone, with nothing flushed, as Lambda reclaims a frozen
    /// function.
    Kill,
}

fn signal(pid: u32, signal: Signal) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal as Nix, kill};
        let which = match signal {
            Signal::Terminate => Nix::SIGTERM,
            Signal::Interrupt => Nix::SIGINT,
            Signal::Freeze => Nix::SIGSTOP,
            Signal::Thaw => Nix::SIGCONT,
            Signal::Kill => Nix::SIGKILL,
        };
        if let Ok(pid) = i32::try_from(pid) {
            // It may have exited already: nothing to do then.
            let _ = kill(nix::unistd::Pid::from_raw(pid), which);
        }
    }
    #[cfg(not(unix))]
    let _ = (pid, signal);
}

/// Set by [`own_process_groups`].
static OWN_GROUPS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// From now on, every process started here gets a process group of its
/// own, so a Ctrl-C at the terminal reaches only the xtask, which then
/// stops them in order (servers before the services they report to). Only
/// for commands that handle the signal themselves ([`Interrupts`]): without
/// a handler the xtask would die at once and leave them running.
pub fn own_process_groups() {
    OWN_GROUPS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// SIGINT (Ctrl-C) and SIGTERM, caught: from [`Interrupts::listen`] on,
/// neither ends the xtask by itself; [`Interrupts::wait`] sees them.
#[cfg(unix)]
pub struct Interrupts {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Interrupts {
    /// Catches both signals from now on.
    pub fn listen() -> Result<Interrupts> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Interrupts {
            interrupt: signal(SignalKind::interrupt())
                .context("cannot catch SIGINT")?,
            terminate: signal(SignalKind::terminate())
                .context("cannot catch SIGTERM")?,
        })
    }

    /// Completes on the next SIGINT or SIGTERM.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    match Interrupts::listen() {
        Ok(mut interrupts) => interrupts.wait().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Spawns `command` with stdin closed, stdout and stderr piped, killed if
/// dropped, without the telemetry settings it would inherit
/// ([`without_inherited_telemetry`]). A program given by path must exist (an
/// unbuilt binary is named).
fn spawn_captured(name: &str, command: &mut Command) -> Result<Child> {
    without_inherited_telemetry(command);
    #[cfg(unix)]
    if OWN_GROUPS.load(std::sync::atomic::Ordering::Relaxed) {
        command.process_group(0);
    }
    let program = command.as_std().get_program().to_owned();
    let path = Path::new(&program);
    if path.components().count() > 1 && !path.exists() {
        bail!(
            "{} is not built; run `cargo build --workspace --bins` (or `--release`)",
            path.display()
        );
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name} ({})", path.display()))
}

/// Whether `url` answers a GET with a success: a readiness probe.
pub async fn answers(http: &reqwest::Client, url: &str) -> bool {
    http.get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// How a program run to completion ended, and what it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Finished {
    /// stdout then stderr.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `command` to completion, output captured, killed after `limit`
/// (the error is then a [`TimedOut`]).
pub async fn run_to_exit(
    name: &str,
    command: &mut Command,
    limit: Duration,
) -> Result<Finished> {
    let started = Instant::now();
    let child = spawn_captured(name, command)?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| TimedOut {
            limit,
            why: format!("{name} had not exited"),
        })?
        .with_context(|| format!("waiting for {name}"))?;
    Ok(Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[tokio::test]
    async fn orphaned_descendants_are_waited_for_then_killed() {
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let found = poll_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async {
                let found = descendants(parent.id());
                Ok(if found.is_empty() {
                    Attempt::NotYet("no child yet".into())
                } else {
                    Attempt::Done(found)
                })
            },
        )
        .await
        .unwrap();
        // The parent goes; its child is now no one's and still running.
        parent.kill().unwrap();
        parent.wait().unwrap();
        let (pid, started) = found[0];
        assert!(stat(pid).is_some_and(|s| s.started == started && s.state != 'Z'));
        outlived(&found, Duration::from_millis(200)).await;
        let gone = poll_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || async {
                Ok(match stat(pid) {
                    Some(s) if s.started == started && s.state != 'Z' => {
                        Attempt::NotYet("still running".into())
                    }
                    _ => Attempt::Done(()),
                })
            },
        )
        .await;
        assert!(gone.is_ok(), "the orphan outlived outlived()");

        // One that ends by itself is waited for, not killed, and no longer
        // than it takes.
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sleep 0.3 & wait"])
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let child = descendants(parent.id());
        assert_eq!(child.len(), 1, "{child:?}");
        let waited = Instant::now();
        outlived(&child, Duration::from_secs(10)).await;
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "{:?}",
            waited.elapsed()
        );
        let status = parent.wait().unwrap();
        // `wait` in the shell returns the child's status: 0, not killed.
        assert!(status.success(), "{status}");
    }

    #[test]
    fn a_free_port_is_bindable_and_below_the_ephemeral_range() {
        for _ in 0..20 {
            let port = free_port().unwrap();
            assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
            if let Some(low) = ephemeral_low().filter(|low| *low > 11_000) {
                assert!((10_000..low).contains(&port), "{port} (range from {low})");
            }
        }
    }

    #[tokio::test]
    async fn a_ready_line_is_found_and_sigterm_ends_the_process() {
        let mut running = Running::spawn(
            "sleeper",
            &mut shell(
                "echo starting; echo 'listening on http://x:1'; exec sleep 30",
            ),
        )
        .unwrap();
        let url = running
            .wait_for_line("listening on ", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(url, "http://x:1");
        // sleep dies of SIGTERM: not a clean exit, and the error says so.
        let error = running.stop(Duration::from_secs(5)).await.unwrap_err();
        assert!(format!("{error:#}").contains("after SIGTERM"), "{error:#}");
    }

    #[tokio::test]
    async fn an_exit_before_the_ready_line_shows_the_output() {
        let mut running =
            Running::spawn("quitter", &mut shell("echo 'no port free' >&2; exit 3"))
                .unwrap();
        let error = running
            .wait_for_line("listening on ", Duration::from_secs(5))
            .await
            .unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("quitter exited"), "{text}");
        assert!(text.contains("no port free"), "{text}");
    }

    #[tokio::test]
    async fn a_missing_ready_line_times_out() {
        let mut running =
            Running::spawn("mute", &mut shell("exec sleep 30")).unwrap();
        let error = running
            .wait_for_line("listening on ", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("within"), "{error:#}");
    }

    #[tokio::test]
    async fn polling_stops_at_the_deadline_with_the_last_reason() {
        let mut tries = 0;
        let error = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || {
                tries += 1;
                let n = tries;
                async move { Ok(Attempt::<()>::NotYet(format!("try {n}"))) }
            },
        )
        .await
        .unwrap_err();
        assert!(tries > 1);
        assert!(
            error.to_string().contains(&format!("try {tries}")),
            "{error}"
        );
        let done =
            poll_until(Duration::from_secs(1), Duration::from_millis(1), || async {
                Ok(Attempt::Done(7))
            })
            .await
            .unwrap();
        assert_eq!(done, 7);
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_is_cut_off_at_the_deadline() {
        let error = poll_until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(Attempt::Done(()))
            },
        )
        .await
        .unwrap_err();
        assert!(error.is::<TimedOut>(), "{error}");
    }

    #[tokio::test]
    async fn output_that_is_not_utf8_is_kept_and_reading_goes_on() {
        let mut running = Running::spawn(
            "binary",
            &mut shell(
                "printf 'a\\377b\\n'; echo 'listening on http://x:2'; exec sleep 30",
            ),
        )
        .unwrap();
        let url = running
            .wait_for_line("listening on ", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(url, "http://x:2");
        assert_eq!(running.output_lines()[0], "a\u{fffd}b");
    }

    #[tokio::test]
    async fn a_job_reports_status_and_output() {
        let finished = run_to_exit(
            "job",
            &mut shell("echo out; echo err >&2; exit 2"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(finished.status.code(), Some(2));
        assert_eq!(finished.printed(), "out\nerr\n");
    }
}
