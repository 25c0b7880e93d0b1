//! What a process started by a check inherits from the xtask's own
//! environment.

use std::ffi::OsString;

use tokio::process::Command;

/// Removes from `command` the telemetry settings of the xtask's environment
/// (`OTEL_*`, `RUST_LOG`, `RUST_LOG_EXPORT`) that `command` does not set
/// itself: an example started by a check, a scenario or a bench runs with
/// what the check chose, not with what a developer's shell holds.
pub fn without_inherited_telemetry(command: &mut Command) {
    let set: Vec<OsString> = command
        .as_std()
        .get_envs()
        .map(|(name, _)| name.to_owned())
        .collect();
    let inherited = std::env::vars_os().map(|(name, _)| name);
    for name in inherited_telemetry(inherited, &set) {
        command.env_remove(name);
    }
}

/// The names among `environment` that are telemetry settings and not in
/// `set`.
fn inherited_telemetry(
    environment: impl Iterator<Item = OsString>,
    set: &[OsString],
) -> Vec<OsString> {
    environment
        .filter(|name| {
            let text = name.to_string_lossy();
            text.starts_with("OTEL_")
                || text == "RUST_LOG"
                || text == "RUST_LOG_EXPORT"
        })
        .filter(|name| !set.contains(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::inherited_telemetry;

    #[test]
    fn only_telemetry_settings_the_command_leaves_unset_are_removed() {
        let environment = [
            "OTEL_SERVICE_NAME",
            "RUST_LOG",
            "RUST_LOG_EXPORT",
            "PATH",
            "OTEL_SDK_DISABLED",
            "HOME",
        ]
        .map(OsString::from);
        let set = [OsString::from("RUST_LOG")];
        let removed = inherited_telemetry(environment.into_iter(), &set);
        let expected = ["OTEL_SERVICE_NAME", "RUST_LOG_EXPORT", "OTEL_SDK_DISABLED"]
            .map(OsString::from);
        assert_eq!(removed, expected);
    }
}
