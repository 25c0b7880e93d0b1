//! The built book read in headless Chromium, as a reader's browser reads
//! it: every page loads without a console error, every image loaded and
//! has a natural width, every `<details>` opens onto its content, and the
//! search box finds a chapter by a word of its title. Part of the `book`
//! step; without Chromium the step says what to install.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::services::browser::{self, Browser};
use crate::tools::Outcome;

/// The script that reports what a reader would find broken on a page.
const INSPECT: &str = r#"
const broken = [...document.images]
  .filter(i => !(i.complete && i.naturalWidth > 0))
  .map(i => i.getAttribute('src'));
const closed = [...document.querySelectorAll('details')].filter(d => {
  d.open = true;
  const shown = [...d.children].filter(e => e.tagName !== 'SUMMARY');
  return shown.length === 0
    || shown.every(e => e.getBoundingClientRect().height === 0);
}).length;
return { broken, closed };
"#;

/// What a search for `term` must list: a link to `page`.
const SEARCH: (&str, &str) = ("strangler", "patterns/strangler-fig.html");

/// Reads every page of the book built into `out`.
pub async fn check(out: &Path) -> Result<Outcome> {
    if let Some(hint) = browser::missing() {
        return Ok(Outcome::Skipped(format!(
            "the book was not read in a browser: {hint}"
        )));
    }
    let mut pages = Vec::new();
    super::collect_html(out, &mut pages)?;
    pages.retain(|p| {
        p.file_name()
            .is_some_and(|n| n != "print.html" && n != "404.html" && n != "toc.html")
    });
    pages.sort();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = Router::new()
        .route("/{*path}", axum::routing::get(file))
        .with_state(out.to_path_buf());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let browser = Browser::start().await?;
    let read = read_pages(&browser, &base, out, &pages).await;
    browser.quit().await;
    server.abort();
    let problems = read?;
    super::super::problems("the book as a browser shows it", problems)?;
    println!(
        "{} pages read in Chromium: no console error, no broken image, every <details> opens; search finds {:?}",
        pages.len(),
        SEARCH.0
    );
    Ok(Outcome::Passed)
}

async fn read_pages(
    browser: &Browser,
    base: &str,
    out: &Path,
    pages: &[std::path::PathBuf],
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for page in pages {
        let relative = page
            .strip_prefix(out)
            .unwrap_or(page)
            .to_string_lossy()
            .replace('\\', "/");
        browser.open(&format!("{base}/{relative}")).await?;
        let found = browser.execute(INSPECT).await?;
        for src in found["broken"].as_array().into_iter().flatten() {
            problems.push(format!(
                "{relative}: the image {} did not load",
                src.as_str().unwrap_or("?")
            ));
        }
        if let Some(n) = found["closed"].as_u64().filter(|n| *n > 0) {
            problems.push(format!(
                "{relative}: {n} <details> show nothing when opened"
            ));
        }
        for error in browser.console_errors().await? {
            problems.push(format!("{relative}: console error: {error}"));
        }
    }
    // The search box, as a reader uses it.
    let (term, expected) = SEARCH;
    browser.open(&format!("{base}/index.html")).await?;
    browser.click("#mdbook-search-toggle").await?;
    browser.fill("#mdbook-searchbar", term).await?;
    let listed = crate::proc::poll_until(
        Duration::from_secs(10),
        Duration::from_millis(200),
        || async {
            let links = browser
                .execute(
                    "return [...document.querySelectorAll('#mdbook-searchresults a')]\
                     .map(a => a.getAttribute('href'));",
                )
                .await?;
            let links: Vec<String> = links
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            Ok(if links.iter().any(|l| l.starts_with(expected)) {
                crate::proc::Attempt::Done(())
            } else {
                crate::proc::Attempt::NotYet(format!("results: {links:?}"))
            })
        },
    )
    .await;
    if let Err(e) = listed {
        problems.push(format!(
            "index.html: searching {term:?} does not list {expected}: {e:#}"
        ));
    }
    Ok(problems)
}

/// One file of the built book. A file server of its own, not tower-http's
/// `ServeDir`: that feature would add crates to the lock for the few lines
/// this needs.
async fn file(
    State(root): State<std::path::PathBuf>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    let target = root.join(&path);
    let inside = target
        .canonicalize()
        .ok()
        .zip(root.canonicalize().ok())
        .is_some_and(|(t, r)| t.starts_with(r));
    if !inside {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(body) = tokio::fs::read(&target).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let kind = match target.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_server_serves_the_book_and_nothing_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let book = dir.path().join("book");
        std::fs::create_dir_all(&book).unwrap();
        std::fs::write(book.join("a.svg"), "<svg/>").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        let served = file(State(book.clone()), UrlPath("a.svg".into())).await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.headers()[header::CONTENT_TYPE], "image/svg+xml");
        let outside = file(State(book), UrlPath("../secret".into())).await;
        assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    }
}
