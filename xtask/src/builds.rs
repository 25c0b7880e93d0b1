//! Ground: the one debug build of the workspace. The `test` step, the
//! scenarios' binaries, the `run` step and the benches' smoke runs select
//! the same packages, tests included, with the same features, so Cargo
//! resolves the dependencies' features once and compiles each dependency
//! once. A build that selects fewer packages, or leaves the tests (and so
//! the dev-dependencies) out, resolves other features and compiles much of
//! the graph again: on a cold run that was minutes per step.

use anyhow::Result;

use crate::proc;

/// Features every debug build of the workspace turns on, as `package/feature`:
/// the bench service's fastrace mode, which `cargo xtask bench overhead`
/// compares with the book's set-up.
pub const FEATURES: &[&str] = &["telemetry-cost/fastrace"];

/// The arguments that select what a build covers: the whole workspace, or
/// `packages`; and the features of [`FEATURES`] whose package is selected.
pub fn selection(packages: Option<&[String]>) -> Vec<String> {
    let mut args = Vec::new();
    match packages {
        None => args.push("--workspace".to_owned()),
        Some(packages) => {
            for package in packages {
                args.extend(["-p".to_owned(), package.clone()]);
            }
        }
    }
    for feature in FEATURES {
        let package = feature.split_once('/').map_or(*feature, |(p, _)| p);
        if packages.is_none_or(|packages| packages.iter().any(|p| p == package)) {
            args.extend(["--features".to_owned(), (*feature).to_owned()]);
        }
    }
    args
}

/// Builds the binaries `bins` in the debug profile with the resolution of
/// `cargo test` over the same selection (`--tests`: the dev-dependencies
/// count), so that after the `test` step only the binaries themselves are
/// left to compile. Each binary is named: `--bins` would also rebuild the
/// xtask that is running.
pub fn binaries(packages: Option<&[String]>, bins: &[String]) -> Result<()> {
    let mut args: Vec<String> =
        ["build", "--locked", "--tests"].map(String::from).into();
    args.extend(selection(packages));
    for bin in bins {
        args.extend(["--bin".to_owned(), bin.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    proc::run("cargo", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_is_asked_for_only_where_its_package_is_selected() {
        assert_eq!(
            selection(None),
            ["--workspace", "--features", "telemetry-cost/fastrace"]
        );
        let some = ["example-grpc".to_owned()];
        assert_eq!(selection(Some(&some)), ["-p", "example-grpc"]);
        let with = ["telemetry-cost".to_owned(), "xtask".to_owned()];
        assert_eq!(
            selection(Some(&with)),
            [
                "-p",
                "telemetry-cost",
                "-p",
                "xtask",
                "--features",
                "telemetry-cost/fastrace"
            ]
        );
    }
}
