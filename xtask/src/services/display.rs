//! A virtual X display (`Xvfb`) on a free display number, and screenshots
//! of it at the X level (`xwd`, netpbm), for the desktop app's webview
//! and the browser that drives it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::process::Command;

use crate::proc::{self, Attempt, Running, Signal};
use crate::tools::{self, SystemPackages};

/// What it needs from the system.
const PACKAGES: SystemPackages =
    SystemPackages::apt("Xvfb (a virtual X display)", &["xvfb"]);

/// The virtual screen: the size of the example's window, so that a capture
/// of the screen is a capture of the window.
pub const SCREEN: (u32, u32) = (640, 420);
/// How long Xvfb may take to be ready, and to stop.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// How long a screenshot waits for the window to be drawn and still.
const PAINT_DEADLINE: Duration = Duration::from_secs(10);
/// The time between two captures compared for stillness.
const PAINT_INTERVAL: Duration = Duration::from_millis(250);

/// A virtual X display; [`Display::stop`] ends it cleanly. Dropped (a
/// failed run), it is killed, and its lock file and socket are removed.
pub struct Display {
    number: u32,
    xvfb: Option<Running>,
}

impl Display {
    /// Starts Xvfb on the first display number whose lock file and socket
    /// are free, and waits until the lock file names this Xvfb: a display
    /// another run took meanwhile is never used.
    pub async fn start() -> Result<Display> {
        let xvfb = tools::on_path("Xvfb").with_context(|| PACKAGES.hint())?;
        let number = (90..200)
            .find(|n| !lock_file(*n).exists() && !socket(*n).exists())
            .context("no free X display number between :90 and :199")?;
        let (width, height) = SCREEN;
        let mut running = Running::spawn(
            "Xvfb",
            Command::new(xvfb).args([
                format!(":{number}"),
                "-screen".into(),
                "0".into(),
                format!("{width}x{height}x24"),
                "-nolisten".into(),
                "tcp".into(),
            ]),
        )?;
        let pid = running.pid();
        running
            .wait_until(READY_DEADLINE, || async {
                pid.is_some() && lock_owner(number) == pid && socket(number).exists()
            })
            .await
            .with_context(|| format!("Xvfb :{number} did not start"))?;
        Ok(Display {
            number,
            xvfb: Some(running),
        })
    }

    /// `:N`, for `DISPLAY`.
    pub fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// SIGTERM: Xvfb removes its lock file and socket as it exits.
    pub async fn stop(mut self) {
        if let Some(xvfb) = self.xvfb.take() {
            xvfb.end(Signal::Terminate, READY_DEADLINE).await;
        }
    }

    /// The whole screen as a PNG at `png`, once the window is drawn and
    /// still: two captures a moment apart, the same and not of one colour
    /// (the webview paints a moment after the page has changed).
    pub async fn screenshot(&self, png: &Path) -> Result<()> {
        if let Some(dir) = png.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let ppm = png.with_extension("ppm");
        let still = self.wait_until_still(&ppm).await;
        let converted = match still {
            Ok(()) => shell(&format!(
                "pnmtopng '{}' > '{}'",
                ppm.display(),
                png.display()
            ))
            .await
            .map(drop),
            Err(e) => {
                Err(e.context("the app's window was not drawn, or never still"))
            }
        };
        let _ = std::fs::remove_file(&ppm);
        converted
    }
}

impl Display {
    /// Captures the screen into `ppm` until two captures in a row are the
    /// same and not of one colour.
    async fn wait_until_still(&self, ppm: &Path) -> Result<()> {
        // The last capture that was drawn: a loop's state across attempts.
        let last: std::cell::RefCell<Option<Vec<u8>>> = Default::default();
        proc::poll_until(PAINT_DEADLINE, PAINT_INTERVAL, || async {
            // xwd's format to PPM through netpbm; pipefail: any step failing fails.
            shell(&format!(
                "set -o pipefail; xwd -root -silent -display {} | xwdtopnm 2>/dev/null > '{}'",
                self.name(),
                ppm.display()
            ))
            .await?;
            let capture = std::fs::read(ppm)?;
            let drawn = pixels(&capture).is_some_and(|p| !one_colour(p));
            if drawn && last.borrow().as_ref() == Some(&capture) {
                return Ok(Attempt::Done(()));
            }
            *last.borrow_mut() = drawn.then_some(capture);
            Ok(Attempt::NotYet(
                if drawn {
                    "the screen kept changing"
                } else {
                    "the screen is one colour"
                }
                .to_owned(),
            ))
        })
        .await
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(xvfb) = self.xvfb.take() {
            // Killed (with the Running), it cannot clean up after itself.
            drop(xvfb);
            let _ = std::fs::remove_file(lock_file(self.number));
            let _ = std::fs::remove_file(socket(self.number));
        }
    }
}

/// The pixels of a binary PPM (`P6`) as netpbm writes it: the header's
/// four fields separated by single whitespace, then 3 bytes a pixel.
fn pixels(ppm: &[u8]) -> Option<&[u8]> {
    let mut rest = ppm.strip_prefix(b"P6")?;
    for _ in 0..3 {
        rest = rest
            .strip_prefix(b"\n")
            .or_else(|| rest.strip_prefix(b" "))?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        (digits > 0).then_some(())?;
        rest = &rest[digits..];
    }
    let data = rest.get(1..)?;
    (data.len() >= 3 && data.len() % 3 == 0).then_some(data)
}

/// Whether every pixel has the colour of the first.
fn one_colour(pixels: &[u8]) -> bool {
    pixels.chunks_exact(3).all(|pixel| pixel == &pixels[..3])
}

/// The PID the display's lock file names, if it exists.
fn lock_owner(number: u32) -> Option<u32> {
    std::fs::read_to_string(lock_file(number))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Runs `script` with bash; its standard output, or why it failed.
async fn shell(script: &str) -> Result<String> {
    let finished = Command::new("bash").args(["-c", script]).output().await?;
    if !finished.status.success() {
        bail!(
            "`{script}` failed ({}): {}",
            finished.status,
            String::from_utf8_lossy(&finished.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&finished.stdout).into_owned())
}

fn lock_file(number: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{number}-lock"))
}

fn socket(number: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_is_drawn_when_its_pixels_differ() {
        let blank = b"P6\n2 1\n255\n\xff\xff\xff\xff\xff\xff";
        let drawn = b"P6\n2 1\n255\n\xff\xff\xff\x00\x00\x00";
        assert!(one_colour(pixels(blank).unwrap()));
        assert!(!one_colour(pixels(drawn).unwrap()));
        for broken in [
            &b"P5\n2 1\n255\n\xff\xff"[..],
            b"P6\n2\n",
            b"P6\n2 1\n255",
            b"P6\n2 1\n255\n\xff",
            b"",
        ] {
            assert!(pixels(broken).is_none(), "{broken:?}");
        }
    }
}
