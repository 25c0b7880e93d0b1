//! Run with `cargo run`, then `curl localhost:3050/chain`. Telemetry goes to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`, OTLP/HTTP).
//! `HOST` and `PORT` choose where it listens (`PORT=0`: a free port).

use std::error::Error;
use std::net::IpAddr;
use std::process::ExitCode;

use example_rocket::SelfUrl;
use rocket::config::LogLevel;
use rocket::fairing::AdHoc;

mod telemetry;

const SERVICE_NAME: &str = "rocket";
const DEFAULT_PORT: u16 = 3050;

#[rocket::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: main
async fn run() -> Result<(), Box<dyn Error>> {
    let (host, port) = address()?;
    let telemetry = telemetry::init(SERVICE_NAME)?;
    // Rocket's own log lines would duplicate the spans; HOST and PORT, like
    // every service in the book, instead of ROCKET_ADDRESS / ROCKET_PORT.
    let figment = rocket::Config::figment()
        .merge(("address", host))
        .merge(("port", port))
        .merge(("log_level", LogLevel::Off))
        .merge(("cli_colors", false));
    let meter = opentelemetry::global::meter(SERVICE_NAME);
    let rocket = example_rocket::rocket(figment, &meter).attach(AdHoc::on_liftoff(
        "listening",
        |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                let url = format!("http://{}:{}", config.address, config.port);
                if let Some(own) = rocket.state::<SelfUrl>() {
                    let _ = own.0.set(url.clone());
                }
                println!("listening on {url}");
            })
        },
    ));
    // Returns once Rocket has shut down gracefully: on Ctrl-C or SIGTERM it
    // stops accepting and lets in-flight requests finish first.
    rocket.launch().await?;
    if let Err(error) = telemetry.shutdown() {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: main

/// `HOST` (default 127.0.0.1) and `PORT` (default 3050), with clear errors.
fn address() -> Result<(IpAddr, u16), String> {
    let host = match std::env::var("HOST") {
        Err(_) => IpAddr::from([127, 0, 0, 1]),
        Ok(value) => value.parse().map_err(|_| {
            format!(
                "HOST={value:?} is not valid: expected an IP address such as 0.0.0.0"
            )
        })?,
    };
    let port = match std::env::var("PORT") {
        Err(_) => DEFAULT_PORT,
        Ok(value) => value.parse().map_err(|_| {
            format!(
                "PORT={value:?} is not valid: expected a port number from 0 to 65535"
            )
        })?,
    };
    Ok((host, port))
}
