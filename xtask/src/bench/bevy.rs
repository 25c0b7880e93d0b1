//! `cargo xtask bench bevy`: what the telemetry costs a frame. The bevy
//! example (a release build) runs the same frames three times, one after
//! the other, against the embedded collector in this process: telemetry
//! off (`OTEL_SDK_DISABLED`), one frame in 60 traced (the example's
//! default), and every frame traced. Each run prints its mean and longest
//! frame (first system to last, as the game measures it); the table puts
//! them side by side.

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::otlp::collector::Collector;
use crate::proc;

/// The modes compared, and the variables that make them.
const MODES: &[(&str, &[(&str, &str)])] = &[
    ("telemetry off", &[("OTEL_SDK_DISABLED", "true")]),
    ("1 frame in 60 traced", &[("FRAME_SAMPLE_EVERY", "60")]),
    ("every frame traced", &[("FRAME_SAMPLE_EVERY", "1")]),
];

/// One run's figures, from the line the game prints at exit.
#[derive(Debug, PartialEq)]
struct Frames {
    frames: u64,
    mean_us: f64,
    longest_us: f64,
}

impl Frames {
    /// `frames: 120, mean frame: 31.5 µs, longest: 102034.1 µs`.
    fn parse(line: &str) -> Option<Frames> {
        let number = |label: &str| -> Option<f64> {
            let after = line.split(label).nth(1)?.trim_start();
            let end = after
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(after.len());
            after[..end].parse().ok()
        };
        Some(Frames {
            frames: number("frames:")? as u64,
            mean_us: number("mean frame:")?,
            longest_us: number("longest:")?,
        })
    }
}

pub async fn run(frames: u64, build: super::Build) -> Result<()> {
    if frames == 0 {
        bail!("--frames must be at least 1");
    }
    let binary = super::build(build, &["example-bevy"])?.join("example-bevy");
    let collector = Collector::start(0, 0).await?;
    let mut rows = Vec::new();
    for (mode, vars) in MODES {
        let mut command = Command::new(&binary);
        command
            .env("FRAMES", frames.to_string())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.http_endpoint())
            // Bevy's LogPlugin filters every layer, the OpenTelemetry ones
            // too: below `info`, no frame would be traced.
            .env("RUST_LOG", "info");
        for (name, value) in *vars {
            command.env(name, value);
        }
        let finished = proc::run_to_exit(
            mode,
            &mut command,
            std::time::Duration::from_secs(600),
        )
        .await?;
        if !finished.status.success() {
            bail!(
                "{mode}: the game failed ({}):\n{}",
                finished.status,
                finished.printed()
            );
        }
        let printed = finished.printed();
        let measured =
            printed.lines().find_map(Frames::parse).with_context(|| {
                format!("{mode}: no `frames: …` line in:\n{printed}")
            })?;
        println!(
            "  {mode}: {} frames, mean {:.1} µs, longest {:.1} µs",
            measured.frames, measured.mean_us, measured.longest_us
        );
        rows.push((mode, measured));
    }
    let base = rows[0].1.mean_us;
    println!(
        "\n{frames} frames per mode, one run each, {} build, the game's frame time \
         (first system to last):\n",
        match build {
            super::Build::Release => "release",
            super::Build::Debug => "debug",
        }
    );
    println!("| mode | mean frame (µs) | vs off |");
    println!("|---|---|---|");
    for (mode, measured) in &rows {
        println!(
            "| {mode} | {:.1} | {:+.1} µs |",
            measured.mean_us,
            measured.mean_us - base
        );
    }
    let spans = collector.store.snapshot().spans.len();
    println!("\nthe collector received {spans} spans in all");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_games_line_is_read_and_others_are_not() {
        assert_eq!(
            Frames::parse("frames: 120, mean frame: 31.5 µs, longest: 102034.1 µs"),
            Some(Frames {
                frames: 120,
                mean_us: 31.5,
                longest_us: 102_034.1
            })
        );
        assert_eq!(Frames::parse("wave spawned"), None);
        assert_eq!(
            Frames::parse("frames: x, mean frame: 1 µs, longest: 2 µs"),
            None
        );
    }
}
