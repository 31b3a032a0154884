//! `hookd verify`: checks a captured webhook (its three headers and raw
//! body) with `hookd-webhooks`, the library receivers use. Prints `valid`
//! and exits 0, or exits 1 naming exactly what is wrong: a bad signature,
//! a timestamp outside the tolerance (and by how much), a malformed or
//! missing header. A secret that is not a key at all is a usage error (2).

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use hookd_webhooks::{DEFAULT_TOLERANCE_SECS, Error, Verifier};

use super::UsageError;
use super::input::{file_or_stdin, read_file, read_stdin};
use super::output::print_str;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The endpoint's secret: whsec_… (HMAC), or whpk_…/whsk_… (ed25519).
    #[arg(long, value_name = "KEY")]
    secret: String,
    /// A header of the webhook, "name: value" (repeatable): webhook-id,
    /// webhook-timestamp and webhook-signature, or their svix-* names.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The raw body ("-" for stdin, the default). Its exact bytes are signed.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Accept timestamps this many seconds away from now.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TOLERANCE_SECS)]
    tolerance: i64,
    /// Check as if the time were this (Unix seconds), e.g. to re-check an old capture.
    #[arg(long, value_name = "UNIX")]
    now: Option<i64>,
}

/// "2 min 5 s" for 125.
fn human(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Why a webhook is invalid, in the words the user needs.
fn explain(e: &Error, headers: &[(String, String)], now: i64) -> String {
    match e {
        Error::TimestampTooOld { age, tolerance } => format!(
            "timestamp outside the tolerance: signed {age} s ({}) ago, {} beyond the {tolerance} s allowed{}",
            human(*age),
            human(age - tolerance),
            signed_at(headers)
        ),
        Error::TimestampTooNew { ahead, tolerance } => format!(
            "timestamp outside the tolerance: {ahead} s ({}) in the future, {} beyond the {tolerance} s allowed (is a clock wrong?){}",
            human(*ahead),
            human(ahead - tolerance),
            signed_at(headers)
        ),
        Error::MissingHeader(name) => format!(
            "missing header {name} (give it with --header '{name}: …')"
        ),
        Error::InvalidTimestamp(v) => {
            format!("malformed header: the timestamp {v:?} is not Unix seconds (now is {now})")
        }
        Error::MalformedSignature(why) => format!("malformed signature header: {why}"),
        Error::NoMatchingSignature => {
            "bad signature: no signature in the header matches this secret (wrong secret, or the body or headers were changed)"
                .to_string()
        }
        other => other.to_string(),
    }
}

fn signed_at(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(k, _)| {
            k.eq_ignore_ascii_case("webhook-timestamp") || k.eq_ignore_ascii_case("svix-timestamp")
        })
        .and_then(|(_, v)| v.trim().parse::<i64>().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| format!(" (signed at {})", t.to_rfc3339()))
        .unwrap_or_default()
}

pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let verifier = Verifier::new(args.secret.trim())
        .map_err(|e| UsageError(format!("wrong secret format: {e}")))?;
    if args.tolerance < 0 {
        return Err(UsageError("--tolerance must not be negative".into()).into());
    }
    let verifier = verifier.with_tolerance(args.tolerance);
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(UsageError(format!(
                "--header {h:?}: expected \"name: value\", e.g. 'webhook-id: msg_…'"
            ))
            .into());
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let body = match file_or_stdin(args.body_file.as_deref()) {
        Some(p) => read_file(p, "the body file")?,
        None => read_stdin("the body", "; or give --body-file FILE")?,
    };
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    match verifier.verify_headers_at(pairs.clone(), &body, now) {
        Ok(()) => {
            print_str("valid\n");
            Ok(())
        }
        Err(e) => {
            let mut why = explain(&e, &headers, now);
            // The most common capture mistake: an editor or `echo` added a
            // final newline the sender never signed.
            if e == Error::NoMatchingSignature
                && let Some(trimmed) = body.strip_suffix(b"\n")
                && verifier
                    .verify_headers_at(pairs, trimmed.strip_suffix(b"\r").unwrap_or(trimmed), now)
                    .is_ok()
            {
                why.push_str(
                    "; the body WOULD match without its final newline: the capture has a newline the sender did not sign",
                );
            }
            Err(anyhow!("invalid: {why}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(5), "5 s");
        assert_eq!(human(125), "2 min 5 s");
        assert_eq!(human(7260), "2 h 1 min");
        assert_eq!(human(90_000), "1 d 1 h");
    }
}
