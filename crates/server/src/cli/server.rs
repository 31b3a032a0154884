//! The server-side commands: `serve` runs the API and the delivery engine
//! until SIGTERM/SIGINT; `token` manages API keys directly in the database
//! (also while the server runs). Both read the server configuration.

use anyhow::Context as _;
use hookd_core::auth::{generate_key, hash_key};
use hookd_core::model::Scope;

use super::TokenCommand;
use crate::config::Config;

/// Sets up logging (text or JSON on stderr) and, when `otlp_endpoint` is
/// set, OpenTelemetry trace export. The returned provider must be shut down
/// at exit so the last spans are flushed.
pub fn init_logging(config: &Config) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // Each layer has its own filter: the log level does not decide which
    // spans are exported, and the (debug-level) spans cost nothing when no
    // exporter wants them.
    let fmt = if config.log_format == "json" {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let (otel, provider) = match otlp(config) {
        Ok(Some(provider)) => {
            use opentelemetry::trace::TracerProvider as _;
            let tracer = provider.tracer("hookd");
            let spans = tracing_subscriber::filter::Targets::new()
                .with_target("hookd", tracing::Level::DEBUG);
            (
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(spans),
                ),
                Some(provider),
            )
        }
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("hookd: OpenTelemetry export disabled: {e}");
            (None, None)
        }
    };
    tracing_subscriber::registry().with(fmt).with(otel).init();
    provider
}

fn otlp(config: &Config) -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use opentelemetry_otlp::WithExportConfig as _;
    if config.otlp_endpoint.is_empty() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(config.otlp_endpoint.clone())
        .build()
        .context("cannot build the OTLP exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("hookd")
        .build();
    Ok(Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// Opens the store, which applies any pending migrations, and reports it.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = crate::open_store(&config)?;
    store.ping().await?;
    println!(
        "database {} is up to date",
        hookd_store::redact_url(&config.database_url)
    );
    Ok(())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = hookd_store::redact_url(&config.database_url);
    let running = crate::start(config).await?;
    tracing::info!(addr = %running.addr, database = %db, "hookd listening");
    let addr = running.addr;
    tokio::select! {
        r = shutdown_signal() => {
            r?;
            tracing::info!(%addr, "shutting down");
            running.shutdown().await
        }
    }
}

pub async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    }
}

pub async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let store = crate::open_store(&config)?;
    match command {
        TokenCommand::Create { org, app, name } => {
            let org = store.ensure_org(&org).await?;
            let scope = match app {
                None => Scope::Org,
                Some(a) => {
                    let app = store.get_app(&org.id, &a).await?.with_context(|| {
                        format!("no application '{a}' in organisation '{}'", org.name)
                    })?;
                    Scope::App(app.id)
                }
            };
            let key = generate_key();
            let stored = store
                .create_api_key(&org.id, scope, name, hash_key(&key))
                .await?;
            eprintln!(
                "created {} for organisation '{}'; the key is shown only once:",
                stored.id, org.name
            );
            println!("{key}");
        }
        TokenCommand::List => {
            println!(
                "{:<32} {:<16} {:<32} {:<20} {:<24} STATUS",
                "ID", "ORG", "SCOPE", "NAME", "CREATED"
            );
            for k in store.list_api_keys().await? {
                let scope = match &k.scope {
                    Scope::Org => "organisation".to_string(),
                    Scope::App(a) => a.clone(),
                };
                let status = match k.revoked_at {
                    Some(t) => format!("revoked {}", t.to_rfc3339()),
                    None => "active".into(),
                };
                println!(
                    "{:<32} {:<16} {:<32} {:<20} {:<24} {status}",
                    k.id,
                    k.org_name,
                    scope,
                    k.name.unwrap_or_default(),
                    k.created_at.to_rfc3339()
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if store.revoke_api_key(&id).await? {
                println!("revoked {id}");
            } else {
                anyhow::bail!("no active key with id {id}");
            }
        }
    }
    Ok(())
}
