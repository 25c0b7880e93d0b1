//! Mints a token the gateway accepts, for trying it by hand:
//! `cargo run -p example-api-gateway --bin mint-token -- alice 3600 pro`
//! prints a JWT for subject `alice`, valid for an hour, on the plan `pro`
//! (optional: the gateway passes it downstream as baggage), signed with the
//! key in `JWT_PRIVATE_KEY_FILE` (default: the example's development key).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use example_api_gateway::{AUDIENCE, Claims, ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn main() -> ExitCode {
    match run() {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            eprintln!("usage: mint-token SUBJECT [SECONDS_VALID [PLAN]]");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let sub = args.next().ok_or("no subject given")?;
    let valid_for: i64 = match args.next() {
        Some(seconds) => seconds
            .parse()
            .map_err(|_| format!("{seconds:?} is not a number of seconds"))?,
        None => 3600,
    };
    let plan = args.next();
    let path = std::env::var("JWT_PRIVATE_KEY_FILE").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/keys/dev-private.pem").to_owned()
    });
    let pem =
        std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let key = EncodingKey::from_ed_pem(&pem).map_err(|e| format!("{path}: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let exp = now
        .checked_add_signed(valid_for)
        .ok_or("expiry out of range")?;
    let claims = Claims {
        sub,
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp,
        plan,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key)
        .map_err(|e| e.to_string())
}
