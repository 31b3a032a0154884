//! Layered configuration: embedded defaults, then an optional TOML file, then
//! `HOOKD_*` environment variables, then command-line flags. Validated once,
//! at start, with errors that name the offending setting.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config.default.toml");

/// Every setting hookd reads. Each is documented in `config.default.toml`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// `sqlite:PATH`.
    pub database_url: String,
    /// An extra admin key of the default organisation, when non-empty.
    pub admin_token: String,
    /// Largest accepted message payload, in bytes.
    pub max_payload_bytes: u64,
    /// Idempotency-key replay window, in seconds.
    pub idempotency_ttl_secs: u64,
    /// Grace period of a rotated-out secret, in seconds.
    pub secret_rotation_grace_secs: u64,
    /// Log filter.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Time a client has to send a request's headers, in seconds.
    pub http_header_timeout_secs: u64,
    /// Time an idle keep-alive connection is kept, in seconds.
    pub http_idle_timeout_secs: u64,
    /// Time a request body has to arrive in full, in seconds.
    pub http_body_timeout_secs: u64,
    /// Most HTTP connections open at once, per listener.
    pub http_max_connections: u64,
    /// Delays between delivery attempts, e.g. `5s,5m,30m`.
    pub retry_schedule: String,
    /// Timeout of one delivery attempt, in seconds.
    pub request_timeout_secs: u64,
    /// Most deliveries in flight to one endpoint.
    pub endpoint_concurrency: u64,
    /// Most deliveries in flight in total.
    pub max_in_flight: u64,
    /// Most messages of one application being accepted at once (0: no bound).
    pub accept_concurrency_per_app: u64,
    /// CIDRs exempt from the SSRF policy, comma-separated.
    pub allowed_subnets: String,
    /// Refuse plain-http endpoints.
    pub https_only: bool,
    /// Outbound proxy URL, or empty.
    pub proxy: String,
    /// Accept that a proxy hides delivery targets from the SSRF policy.
    pub proxy_bypasses_ssrf: bool,
    /// `webhook` or `svix` header names.
    pub signature_headers: String,
    /// Bytes of each response body kept.
    pub response_body_limit: u64,
    /// Auto-disable period for failing endpoints, in seconds.
    pub disable_after_secs: u64,
    /// Consecutive failed attempts before `message.attempt.failing`.
    pub failing_event_after_attempts: u64,
    /// Uid of the application receiving operational events.
    pub operational_app_uid: String,
    /// Deadline for in-flight deliveries at shutdown, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Separate address for `/metrics`, or empty to serve it on `listen`.
    pub metrics_listen: String,
    /// `all`, `api` or `worker`.
    pub role: String,
    /// This node's name in leases; empty for the default.
    pub node_id: String,
    /// Heartbeat silence after which a node's deliveries are taken over, in seconds.
    pub lease_timeout_secs: u64,
    /// Polling fallback of the claimer, in milliseconds.
    pub claim_interval_ms: u64,
    /// How long message payloads and response bodies are kept, e.g. `90d`.
    pub retention_period: String,
    /// How often expired payloads are looked for, in seconds.
    pub retention_sweep_secs: u64,
    /// OTLP/HTTP endpoint receiving traces, e.g. `http://collector:4318/v1/traces`.
    pub otlp_endpoint: String,
    /// Base URL users reach hookd at (portal links, cookie security), or empty.
    pub public_url: String,
    /// Origins allowed to frame the portal, space-separated.
    pub portal_frame_ancestors: String,
    /// The portal's accent colour (`#rgb` or `#rrggbb`).
    pub portal_color: String,
    /// Logo URL shown in the portal, or empty.
    pub portal_logo_url: String,
    /// Key sealing endpoint credentials at rest (64 hex characters), or empty.
    pub encryption_key: String,
    /// The key being rotated out, or empty.
    pub encryption_previous_key: String,
}

/// Settings given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides(pub Vec<(&'static str, String)>);

impl Config {
    /// Loads and validates the configuration from all layers.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> Result<Config, String> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::load_from(file, &env, flags)
    }

    /// As [`Config::load`], with the environment passed in (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        flags: &Overrides,
    ) -> Result<Config, String> {
        let defaults: toml::Table = DEFAULTS
            .parse()
            .map_err(|e| format!("built-in defaults are invalid: {e}"))?;
        let mut merged = defaults.clone();

        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
            for (k, v) in table {
                if !defaults.contains_key(&k) {
                    return Err(format!(
                        "config file {}: unknown setting '{k}'",
                        path.display()
                    ));
                }
                merged.insert(k, v);
            }
        }

        for key in defaults.keys() {
            let var = format!("HOOKD_{}", key.to_ascii_uppercase());
            if let Some((_, value)) = env.iter().find(|(k, _)| *k == var) {
                let v = typed(&defaults, key, value).map_err(|e| format!("{var}: {e}"))?;
                merged.insert(key.clone(), v);
            }
        }

        for (key, value) in &flags.0 {
            let flag = format!("--{}", key.replace('_', "-"));
            let v = typed(&defaults, key, value).map_err(|e| format!("{flag}: {e}"))?;
            merged.insert(key.to_string(), v);
        }

        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        self.metrics_addr()?;
        hookd_store::parse_url(&self.database_url)
            .map_err(|e| format!("invalid setting database_url: {e}"))?;
        if self.max_payload_bytes == 0 || self.max_payload_bytes > 64 * 1024 * 1024 {
            return Err("invalid setting max_payload_bytes: must be between 1 and 67108864".into());
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "invalid setting log_format: '{}' (expected text or json)",
                self.log_format
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| format!("invalid setting log: {e}"))?;
        for (name, value, max) in [
            (
                "http_header_timeout_secs",
                self.http_header_timeout_secs,
                3600,
            ),
            (
                "http_idle_timeout_secs",
                self.http_idle_timeout_secs,
                86_400,
            ),
            ("http_body_timeout_secs", self.http_body_timeout_secs, 3600),
            ("http_max_connections", self.http_max_connections, 1_000_000),
        ] {
            if !(1..=max).contains(&value) {
                return Err(format!(
                    "invalid setting {name}: must be between 1 and {max}"
                ));
            }
        }
        self.schedule()?;
        self.subnets()?;
        if self.request_timeout_secs == 0 || self.request_timeout_secs > 300 {
            return Err("invalid setting request_timeout_secs: must be between 1 and 300".into());
        }
        if self.endpoint_concurrency == 0 || self.endpoint_concurrency > 1000 {
            return Err("invalid setting endpoint_concurrency: must be between 1 and 1000".into());
        }
        if self.accept_concurrency_per_app > 100_000 {
            return Err(
                "invalid setting accept_concurrency_per_app: must be between 0 and 100000".into(),
            );
        }
        if self.max_in_flight == 0 || self.max_in_flight > 100_000 {
            return Err("invalid setting max_in_flight: must be between 1 and 100000".into());
        }
        if !matches!(self.signature_headers.as_str(), "webhook" | "svix") {
            return Err(format!(
                "invalid setting signature_headers: '{}' (expected webhook or svix)",
                self.signature_headers
            ));
        }
        if !self.proxy.is_empty() {
            hookd_core::validate::parse_http_url(&self.proxy)
                .map_err(|e| format!("invalid setting proxy: {e}"))?;
            // The delivery client checks the address it connects to, which
            // is the proxy's: every endpoint, internal or not, would pass.
            if !self.proxy_bypasses_ssrf {
                return Err(
                    "invalid setting proxy: with a proxy, the SSRF policy only sees the proxy's \
                     address, so deliveries could reach internal addresses through it; make the \
                     proxy refuse private and loopback destinations, then set \
                     proxy_bypasses_ssrf = true to accept this, or leave proxy empty"
                        .into(),
                );
            }
        }
        if !matches!(self.role.as_str(), "all" | "api" | "worker") {
            return Err(format!(
                "invalid setting role: '{}' (expected all, api or worker)",
                self.role
            ));
        }
        if self.role != "all" && !self.is_postgres() {
            return Err(format!(
                "invalid setting role: '{}' needs a shared PostgreSQL database (database_url = postgres://...)",
                self.role
            ));
        }
        let retention = hookd_core::retry::parse_duration(&self.retention_period)
            .map_err(|e| format!("invalid setting retention_period: {e}"))?;
        if retention.is_zero() {
            return Err("invalid setting retention_period: must be more than 0".into());
        }
        if !(1..=86_400).contains(&self.retention_sweep_secs) {
            return Err("invalid setting retention_sweep_secs: must be between 1 and 86400".into());
        }
        if !self.otlp_endpoint.is_empty() {
            hookd_core::validate::parse_http_url(&self.otlp_endpoint)
                .map_err(|e| format!("invalid setting otlp_endpoint: {e}"))?;
        }
        if !(3..=3600).contains(&self.lease_timeout_secs) {
            return Err("invalid setting lease_timeout_secs: must be between 3 and 3600".into());
        }
        if !(10..=60_000).contains(&self.claim_interval_ms) {
            return Err("invalid setting claim_interval_ms: must be between 10 and 60000".into());
        }
        if self.response_body_limit > 1024 * 1024 {
            return Err("invalid setting response_body_limit: at most 1048576".into());
        }
        self.encryption_keys()?;
        if !self.public_url.is_empty() {
            hookd_core::validate::parse_http_url(&self.public_url)
                .map_err(|e| format!("invalid setting public_url: {e}"))?;
        }
        for origin in self.portal_frame_ancestors.split_whitespace() {
            let ok = origin == "'self'"
                || hookd_core::validate::parse_http_url(origin.trim_start_matches("*.")).is_ok()
                || origin.starts_with("https://*.");
            if !ok {
                return Err(format!(
                    "invalid setting portal_frame_ancestors: '{origin}' is not an origin like https://app.example.com"
                ));
            }
        }
        let hex = self.portal_color.strip_prefix('#').unwrap_or("");
        if !matches!(hex.len(), 3 | 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "invalid setting portal_color: '{}' is not a colour like #4f46e5",
                self.portal_color
            ));
        }
        if !self.portal_logo_url.is_empty() {
            hookd_core::validate::parse_http_url(&self.portal_logo_url)
                .map_err(|e| format!("invalid setting portal_logo_url: {e}"))?;
        }
        Ok(())
    }

    /// The keys sealing endpoint credentials, when `encryption_key` is set.
    pub fn encryption_keys(&self) -> Result<Option<hookd_store::seal::Keys>, String> {
        use hookd_store::seal::Key;
        if self.encryption_key.is_empty() {
            if !self.encryption_previous_key.is_empty() {
                return Err(
                    "invalid setting encryption_previous_key: it needs encryption_key".into(),
                );
            }
            return Ok(None);
        }
        let current = Key::parse_hex(&self.encryption_key)
            .map_err(|e| format!("invalid setting encryption_key: {e}"))?;
        let previous = Some(&self.encryption_previous_key)
            .filter(|k| !k.is_empty())
            .map(|k| Key::parse_hex(k))
            .transpose()
            .map_err(|e| format!("invalid setting encryption_previous_key: {e}"))?;
        Ok(Some(hookd_store::seal::Keys { current, previous }))
    }

    pub fn schedule(&self) -> Result<hookd_core::retry::Schedule, String> {
        hookd_core::retry::Schedule::parse(&self.retry_schedule)
            .map_err(|e| format!("invalid setting retry_schedule: {e}"))
    }

    pub fn subnets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allowed_subnets
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!(
                            "invalid setting allowed_subnets: '{s}' is not a CIDR like 10.0.0.0/8"
                        )
                    })
            })
            .collect()
    }

    /// The default payload retention (validated at load).
    pub fn retention(&self) -> std::time::Duration {
        hookd_core::retry::parse_duration(&self.retention_period)
            .unwrap_or(std::time::Duration::from_secs(90 * 86_400))
    }

    /// Whether the store is shared PostgreSQL (several nodes may use it).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }

    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, String> {
        if self.metrics_listen.is_empty() {
            return Ok(None);
        }
        self.metrics_listen.parse().map(Some).map_err(|_| {
            format!(
                "invalid setting metrics_listen: '{}' is not an address like 127.0.0.1:9090",
                self.metrics_listen
            )
        })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "invalid setting listen: '{}' is not an address like 127.0.0.1:8071",
                self.listen
            )
        })
    }

    pub fn admin_token(&self) -> Option<&str> {
        Some(self.admin_token.as_str()).filter(|t| !t.is_empty())
    }
}

/// Converts a string from the environment or a flag to the type of the
/// setting's default, so `HOOKD_MAX_PAYLOAD_BYTES=abc` is caught here by name.
fn typed(defaults: &toml::Table, key: &str, value: &str) -> Result<toml::Value, String> {
    match defaults.get(key) {
        Some(toml::Value::Integer(_)) => value
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("'{value}' is not a whole number")),
        Some(toml::Value::Boolean(_)) => match value.trim() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("'{value}' is not true or false")),
        },
        _ => Ok(toml::Value::String(value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() -> Result<(), String> {
        let c = Config::load_from(None, &[], &Overrides::default())?;
        assert_eq!(c.listen, "127.0.0.1:8071");
        assert_eq!(c.database_url, "sqlite:hookd-data/hookd.db");
        assert_eq!(c.admin_token(), None);
        Ok(())
    }

    #[test]
    fn precedence_is_defaults_file_env_flags() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir.path().join("hookd.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\nmax_payload_bytes = 10\nlog = \"debug\"\n",
        )
        .map_err(|e| e.to_string())?;
        let c = Config::load_from(
            Some(&file),
            &env(&[
                ("HOOKD_LISTEN", "127.0.0.1:2"),
                ("HOOKD_MAX_PAYLOAD_BYTES", "20"),
            ]),
            &Overrides(vec![("listen", "127.0.0.1:3".into())]),
        )?;
        assert_eq!(c.listen, "127.0.0.1:3");
        assert_eq!(c.max_payload_bytes, 20);
        assert_eq!(c.log, "debug");
        Ok(())
    }

    #[test]
    fn errors_name_the_setting() {
        let e = Config::load_from(
            None,
            &env(&[("HOOKD_LISTEN", "nope")]),
            &Overrides::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("listen"), "{e}");
        let e = Config::load_from(
            None,
            &env(&[("HOOKD_MAX_PAYLOAD_BYTES", "lots")]),
            &Overrides::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("HOOKD_MAX_PAYLOAD_BYTES"), "{e}");
        let e = Config::load_from(
            None,
            &[],
            &Overrides(vec![("database_url", "mysql://x".into())]),
        )
        .err()
        .unwrap_or_default();
        assert!(e.contains("database_url"), "{e}");
    }

    #[test]
    fn unknown_file_keys_are_rejected() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir.path().join("hookd.toml");
        std::fs::write(&file, "lisen = \"x\"\n").map_err(|e| e.to_string())?;
        let e = Config::load_from(Some(&file), &[], &Overrides::default())
            .err()
            .unwrap_or_default();
        assert!(e.contains("lisen"), "{e}");
        Ok(())
    }
}
