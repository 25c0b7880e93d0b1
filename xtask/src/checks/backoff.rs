//! The retry chapter's timeline: when each attempt of one operation may
//! start, with the waits that the retry example's `Settings::default()`
//! allows, drawn to scale. The settings are read from the example's source
//! (`syn` parses it), and the waits are computed the way `backon`, the
//! example's backoff crate, computes them: a base wait that doubles from
//! `min_delay` and stops growing at `max_delay`, plus jitter of up to the
//! base again, so a wait lasts from its base to twice its base; at most
//! `max_retries` retries, and none whose wait would take the waits past
//! `total_delay`. `cargo xtask gen` writes the picture, and the `generated`
//! step fails when it is stale: a change of the defaults redraws it.

use std::fmt::Write as _;

use anyhow::{Context as _, Result, bail};
use syn::spanned::Spanned as _;

use crate::repo;
use crate::text::escape_xml;

/// Where the settings are defined.
pub const SOURCE: &str = "examples/retry/src/retry.rs";

/// The picture, under `book/src/generated/`.
pub const NAME: &str = "retry-backoff.svg";

/// The defaults the picture is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub max_retries: u64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
    pub total_delay_ms: u64,
}

/// One retry: how long its wait may last, and when, counted from the first
/// attempt's start, it may begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The wait without jitter; with it, up to twice this.
    pub base_ms: u64,
    pub earliest_ms: u64,
    pub latest_ms: u64,
    /// Whether `total_delay` can refuse it: only when the longest waits
    /// before it and its own would pass it.
    pub may_be_refused: bool,
}

/// The picture of the example's defaults.
pub fn picture() -> Result<String> {
    let path = repo::root().join(SOURCE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {SOURCE}"))?;
    let settings =
        read(&text).with_context(|| format!("{SOURCE}: Settings::default()"))?;
    Ok(render(&settings, &schedule(&settings)))
}

/// The literal fields of `impl Default for Settings`'s `Self { .. }`.
pub fn read(source: &str) -> Result<Settings> {
    let file = syn::parse_file(source).context("not Rust that syn can parse")?;
    let fields = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Impl(block)
                if block.trait_.as_ref().is_some_and(|(_, path, _)| {
                    path.segments.last().is_some_and(|s| s.ident == "Default")
                }) && matches!(&*block.self_ty, syn::Type::Path(p)
                    if p.path.is_ident("Settings")) =>
            {
                default_fields(block)
            }
            _ => None,
        })
        .context(
            "no `impl Default for Settings` whose `default` returns `Self { .. }`",
        )?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| matches!(&f.member, syn::Member::Named(i) if i == name))
            .with_context(|| format!("no field `{name}`"))
    };
    let number = |name: &str| -> Result<u64> {
        let field = field(name)?;
        integer(&field.expr).with_context(|| {
            format!(
                "line {}: `{name}` is not an integer literal",
                field.span().start().line
            )
        })
    };
    let millis = |name: &str| -> Result<u64> {
        let field = field(name)?;
        duration_ms(&field.expr).with_context(|| {
            format!(
                "line {}: `{name}` is not `Duration::from_millis(N)` or \
                 `Duration::from_secs(N)`",
                field.span().start().line
            )
        })
    };
    let settings = Settings {
        max_retries: number("max_retries")?,
        min_delay_ms: millis("min_delay")?,
        max_delay_ms: millis("max_delay")?,
        total_delay_ms: millis("total_delay")?,
    };
    if settings.min_delay_ms == 0 || settings.max_delay_ms < settings.min_delay_ms {
        bail!("the waits need 0 < min_delay <= max_delay: {settings:?}");
    }
    Ok(settings)
}

/// The fields of the `Self { .. }` that `fn default` returns.
fn default_fields(block: &syn::ItemImpl) -> Option<Vec<syn::FieldValue>> {
    block.items.iter().find_map(|item| match item {
        syn::ImplItem::Fn(f) if f.sig.ident == "default" => {
            f.block.stmts.iter().rev().find_map(|stmt| match stmt {
                syn::Stmt::Expr(syn::Expr::Struct(s), None) => {
                    Some(s.fields.iter().cloned().collect())
                }
                _ => None,
            })
        }
        _ => None,
    })
}

fn integer(expr: &syn::Expr) -> Option<u64> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(n),
            ..
        }) => n.base10_parse().ok(),
        _ => None,
    }
}

fn duration_ms(expr: &syn::Expr) -> Option<u64> {
    let syn::Expr::Call(call) = expr else {
        return None;
    };
    let syn::Expr::Path(function) = &*call.func else {
        return None;
    };
    let name = function.path.segments.last()?.ident.to_string();
    let [argument] = call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let n = integer(argument)?;
    match name.as_str() {
        "from_millis" => Some(n),
        "from_secs" => n.checked_mul(1000),
        _ => None,
    }
}

/// The retries `settings` allow, as backon allows them.
pub fn schedule(settings: &Settings) -> Vec<Retry> {
    let mut retries = Vec::new();
    let (mut earliest, mut latest) = (0, 0);
    let mut base = settings.min_delay_ms;
    for _ in 0..settings.max_retries {
        // backon refuses a wait that would take the waits past the total.
        if earliest + base > settings.total_delay_ms {
            break;
        }
        let may_be_refused = latest + 2 * base > settings.total_delay_ms;
        earliest += base;
        latest = (latest + 2 * base).min(settings.total_delay_ms);
        retries.push(Retry {
            base_ms: base,
            earliest_ms: earliest,
            latest_ms: latest,
            may_be_refused,
        });
        base = (base * 2).min(settings.max_delay_ms);
    }
    retries
}

const WIDTH: u64 = 820;
const LEFT: u64 = 150;
const RIGHT: u64 = 170;
const ROW: u64 = 34;
const TOP: u64 = 44;

/// The timeline: a row per attempt, the span of time in which it may start
/// shaded, the axis in milliseconds, and the rules in words beneath.
pub fn render(settings: &Settings, retries: &[Retry]) -> String {
    let end = retries.last().map_or(100, |r| r.latest_ms).max(1);
    let step = tick_step(end);
    let end = end.div_ceil(step) * step;
    let scale = |ms: u64| LEFT + ms * (WIDTH - LEFT - RIGHT) / end;
    let rows = retries.len() as u64 + 1;
    let axis_y = TOP + rows * ROW + 6;
    let rules = rules(settings, retries);
    let height = axis_y + 34 + 18 * rules.len() as u64 + 10;
    let description = format!(
        "A timeline in milliseconds after the first attempt starts, leaving out the \
         attempts' own time. The first attempt starts at 0. {}",
        retries
            .iter()
            .enumerate()
            .map(|(i, r)| format!(
                "Attempt {} starts between {} and {} ms, after a wait of {} to {} ms.",
                i + 2,
                r.earliest_ms,
                r.latest_ms,
                r.base_ms,
                2 * r.base_ms
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let title = "When each attempt may start: the retry example's defaults";
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{}</title>\n<desc>{}</desc>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"20\" y=\"24\" font-weight=\"bold\">{}</text>\n",
        escape_xml(title),
        escape_xml(&description),
        escape_xml(title),
    );
    let mut row = |label: String, from: u64, to: u64, note: String, index: u64| {
        let y = TOP + index * ROW;
        let (x1, x2) = (scale(from), scale(to));
        let _ = writeln!(
            svg,
            "<text x=\"20\" y=\"{}\">{}</text>",
            y + 17,
            escape_xml(&label)
        );
        if x2 > x1 {
            let _ = writeln!(
                svg,
                "<rect x=\"{x1}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"#e8f0fe\" \
                 stroke=\"#444444\" stroke-dasharray=\"4 3\"/>",
                y + 4,
                x2 - x1
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{x1}\" y=\"{}\" width=\"4\" height=\"18\" fill=\"#444444\"/>",
            y + 4
        );
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            x2 + 8,
            y + 17,
            escape_xml(&note)
        );
    };
    row("attempt 1".into(), 0, 0, "the request".into(), 0);
    for (i, retry) in retries.iter().enumerate() {
        let refused = if retry.may_be_refused {
            "; total_delay may refuse it"
        } else {
            ""
        };
        row(
            format!("attempt {} (retry {})", i + 2, i + 1),
            retry.earliest_ms,
            retry.latest_ms,
            format!(
                "after a wait of {}–{} ms{refused}",
                retry.base_ms,
                2 * retry.base_ms
            ),
            i as u64 + 1,
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"#444444\"/>",
        scale(end)
    );
    let mut tick = 0;
    while tick <= end {
        let x = scale(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{x}\" y1=\"{axis_y}\" x2=\"{x}\" y2=\"{}\" stroke=\"#444444\"/>\n\
             <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{tick} ms</text>",
            axis_y + 5,
            axis_y + 18
        );
        tick += step;
    }
    for (i, rule) in rules.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"20\" y=\"{}\" font-size=\"11\">{}</text>",
            axis_y + 42 + 18 * i as u64,
            escape_xml(rule)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The rules the picture follows, in words, with the settings' values.
fn rules(settings: &Settings, retries: &[Retry]) -> Vec<String> {
    let total_binds = retries.iter().any(|r| r.may_be_refused)
        || (retries.len() as u64) < settings.max_retries;
    vec![
        "The black bar: the earliest start. The dashed box: how much later jitter may \
         make it. The attempts' own time is left out."
            .to_owned(),
        format!(
            "Each wait's base doubles from min_delay ({}) and stops at max_delay ({}{}); \
             jitter adds up to the base again.",
            human(settings.min_delay_ms),
            human(settings.max_delay_ms),
            match retries.iter().any(|r| r.base_ms == settings.max_delay_ms) {
                true => "",
                false => ", not reached here",
            }
        ),
        format!(
            "At most max_retries ({}) retries, and none whose wait would take the waits \
             past total_delay ({}{}).",
            settings.max_retries,
            human(settings.total_delay_ms),
            match total_binds {
                true => "",
                false => ", not reached here",
            }
        ),
    ]
}

fn human(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// A round step for about five to ten ticks over `end` milliseconds.
fn tick_step(end: u64) -> u64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if end / (step * factor) <= 8 {
                return step * factor;
            }
        }
        step *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: &str = r"
        impl Default for Settings {
            fn default() -> Self {
                Self {
                    max_retries: 3,
                    min_delay: Duration::from_millis(50),
                    max_delay: Duration::from_secs(1),
                    total_delay: Duration::from_secs(2),
                    budget_percent: 0.2,
                }
            }
        }";

    #[test]
    fn the_defaults_are_read_from_the_source() {
        assert_eq!(
            read(DEFAULTS).unwrap(),
            Settings {
                max_retries: 3,
                min_delay_ms: 50,
                max_delay_ms: 1000,
                total_delay_ms: 2000
            }
        );
    }

    #[test]
    fn a_setting_that_is_not_a_literal_is_an_error_with_its_line() {
        let computed = DEFAULTS
            .replace("Duration::from_millis(50)", "Duration::from_millis(BASE)");
        let error = format!("{:#}", read(&computed).unwrap_err());
        assert!(error.contains("line 6: `min_delay`"), "{error}");
        let minutes = DEFAULTS.replace("from_secs(1)", "from_mins(1)");
        assert!(read(&minutes).is_err());
        let missing = DEFAULTS.replace("max_retries: 3,", "");
        let error = format!("{:#}", read(&missing).unwrap_err());
        assert!(error.contains("no field `max_retries`"), "{error}");
        assert!(read("struct Settings;").is_err());
        assert!(read("fn (").is_err());
    }

    #[test]
    fn waits_double_from_the_minimum_and_stop_at_the_maximum() {
        let settings = Settings {
            max_retries: 5,
            min_delay_ms: 100,
            max_delay_ms: 300,
            total_delay_ms: 10_000,
        };
        let bases: Vec<u64> =
            schedule(&settings).iter().map(|r| r.base_ms).collect();
        assert_eq!(bases, [100, 200, 300, 300, 300]);
        let first = schedule(&settings)[0];
        assert_eq!((first.earliest_ms, first.latest_ms), (100, 200));
    }

    #[test]
    fn the_total_delay_ends_the_retries_or_may_refuse_one() {
        let settings = Settings {
            max_retries: 10,
            min_delay_ms: 100,
            max_delay_ms: 1000,
            total_delay_ms: 500,
        };
        let retries = schedule(&settings);
        // 100 + 200 = 300 at the earliest; 300 + 400 passes 500: no third.
        assert_eq!(retries.len(), 2);
        assert!(!retries[0].may_be_refused);
        // At the latest 200 + 400 = 600 > 500: jitter can push it out.
        assert!(retries[1].may_be_refused);
        assert_eq!(retries[1].latest_ms, 500);
    }

    #[test]
    fn the_picture_says_each_window_in_words() {
        let settings = read(DEFAULTS).unwrap();
        let svg = render(&settings, &schedule(&settings));
        assert!(
            svg.contains("Attempt 2 starts between 50 and 100 ms, after a wait of 50 to 100 ms."),
            "{svg}"
        );
        assert!(
            svg.contains("Attempt 4 starts between 350 and 700 ms"),
            "{svg}"
        );
        assert!(svg.contains("min_delay (50 ms)"), "{svg}");
        // With the defaults neither cap is reached, and the picture says so.
        assert!(svg.contains("max_delay (1 s, not reached here)"), "{svg}");
        assert!(svg.contains("total_delay (2 s, not reached here)"), "{svg}");
        assert_eq!(tick_step(700), 100);
        assert_eq!(tick_step(40), 5);
    }
}
