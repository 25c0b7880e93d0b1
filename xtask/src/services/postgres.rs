//! A throwaway PostgreSQL for the examples that need one: the system's own
//! `initdb` and `pg_ctl`, a cluster in a temporary directory on a free port,
//! fsync off, stopped when dropped. `DATABASE_URL`, when set, is used
//! instead (a database you run yourself, or the docker stack's).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::{Service, Stopping, Stops};
use crate::tools::SystemPackages;
use crate::{proc, tools};

/// What to tell someone who has no PostgreSQL.
/// What it needs from the system: the server's programs (`initdb` in
/// /usr/lib/postgresql/*/bin or on PATH) and `psql`.
pub const PACKAGES: SystemPackages = SystemPackages {
    what: "PostgreSQL's server programs (the event-sourcing example)",
    apt: &["postgresql", "postgresql-client"],
    otherwise: "or set DATABASE_URL",
};

/// The placeholder a run fills with a fresh database's URL.
pub const PLACEHOLDERS: &[&str] = &["database_url"];

/// What to install, when there is neither `DATABASE_URL` nor PostgreSQL.
pub fn missing() -> Option<String> {
    (std::env::var_os("DATABASE_URL").is_none() && find_bin().is_none())
        .then(|| PACKAGES.hint())
}

/// A running server and how to reach it as its superuser.
pub struct Postgres {
    /// `postgres://USER@HOST:PORT/postgres`: the maintenance database, from
    /// which fresh databases are created.
    pub admin_url: String,
    /// Held only to be stopped (and its directory removed) on drop.
    _cluster: Option<Cluster>,
    created: AtomicUsize,
}

struct Cluster {
    bin: PathBuf,
    /// Removed after the server stops (fields drop after `drop` ran).
    dir: tempfile::TempDir,
    as_postgres: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = pg_command(&self.bin.join("pg_ctl"), self.as_postgres)
            .args(["-D"])
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl Postgres {
    /// `DATABASE_URL` if set; else a new cluster; `None` if PostgreSQL is not
    /// installed.
    pub fn provide() -> Result<Option<Self>> {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            println!("  PostgreSQL: DATABASE_URL ({})", redact(&url));
            return Ok(Some(Self {
                admin_url: url,
                _cluster: None,
                created: AtomicUsize::new(0),
            }));
        }
        let Some(bin) = find_bin() else {
            return Ok(None);
        };
        let started = Instant::now();
        let postgres = Self::start(&bin)?;
        println!(
            "  PostgreSQL: a throwaway cluster from {} at {} ({:.1}s)",
            bin.display(),
            postgres.admin_url,
            started.elapsed().as_secs_f64()
        );
        Ok(Some(postgres))
    }

    fn start(bin: &Path) -> Result<Self> {
        // initdb refuses to run as root: run the server as `postgres` then.
        let as_postgres = is_root();
        let temp = tempfile::Builder::new()
            .prefix("rust-otel-book-pg-")
            .tempdir()
            .context("cannot create a directory for PostgreSQL")?;
        let dir = temp.path().to_owned();
        if as_postgres {
            proc::output(
                Command::new("chown").args(["postgres:postgres"]).arg(&dir),
            )
            .with_context(|| {
                format!("cannot hand {} to the postgres user", dir.display())
            })?;
        }
        let cluster = Cluster {
            bin: bin.to_owned(),
            dir: temp,
            as_postgres,
        };
        let data = dir.join("data");
        run(pg_command(&bin.join("initdb"), as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync"]))
        .context("initdb failed")?;
        let port = proc::free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            dir.display()
        );
        run(pg_command(&bin.join("pg_ctl"), as_postgres)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "30", "-o", &options, "start"]))
        .with_context(|| {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            format!("pg_ctl start failed; its log:\n{log}")
        })?;
        Ok(Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            _cluster: Some(cluster),
            created: AtomicUsize::new(0),
        })
    }

    /// Creates an empty database and returns its URL: each scenario run
    /// starts from nothing.
    pub fn fresh_database(&self) -> Result<String> {
        let n = self.created.fetch_add(1, Ordering::SeqCst);
        let name = format!("scenario_{}_{n}", std::process::id());
        proc::output(
            Command::new("psql")
                .arg(&self.admin_url)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
                .arg(format!("CREATE DATABASE {name}")),
        )
        .with_context(|| {
            format!(
                "creating database {name} failed (psql: Debian/Ubuntu: apt-get install postgresql-client)"
            )
        })?;
        let base = self
            .admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&self.admin_url);
        Ok(format!("{base}/{name}"))
    }
}

fn pg_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<()> {
    proc::output(command).map(drop)
}

/// The newest `/usr/lib/postgresql/N/bin`, else the directory of `initdb` on
/// PATH.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let bin = tools::on_path("initdb")?.parent()?.to_owned();
    bin.join("pg_ctl").exists().then_some(bin)
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        nix::unistd::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// A URL with its password, if any, replaced.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A run's fresh database; it stays in the cluster, which ends with
/// `verify`.
pub struct Database {
    pub url: String,
}

impl Service for Database {
    fn stops(&self) -> Stops {
        Stops::AfterProcesses
    }

    fn stop(self: Box<Self>) -> Stopping {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:1/p"),
            "postgres://postgres@127.0.0.1:1/p"
        );
    }
}
