//! Command-line interface: `serve`, `token`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use hookd_core::auth::{generate_key, hash_key};
use hookd_core::model::Scope;

use crate::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "hookd", version, about = "Webhook delivery service")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite:PATH [env: HOOKD_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Manage API keys (works directly on the database).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [env: HOOKD_LISTEN] [default: 127.0.0.1:8071]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Largest accepted message payload in bytes [env: HOOKD_MAX_PAYLOAD_BYTES]
    #[arg(long, value_name = "BYTES")]
    max_payload_bytes: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API key and print it (it is shown only once).
    Create {
        /// Organisation name (created if missing).
        #[arg(long, default_value = crate::DEFAULT_ORG)]
        org: String,
        /// Limit the key to one application (id or uid).
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List API keys (never the keys themselves).
    List,
    /// Revoke an API key by id (key_…).
    Revoke { id: String },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut flags = Overrides::default();
    if let Some(url) = &cli.global.database_url {
        flags.0.push(("database_url", url.clone()));
    }
    if let Command::Serve(args) = &cli.command {
        if let Some(l) = &args.listen {
            flags.0.push(("listen", l.clone()));
        }
        if let Some(m) = &args.max_payload_bytes {
            flags.0.push(("max_payload_bytes", m.clone()));
        }
    }
    if let Command::Openapi = cli.command {
        return match serde_json::to_string_pretty(&crate::api::openapi()) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(anyhow::anyhow!(e)),
        };
    }
    let config = match Config::load(cli.global.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hookd: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => serve(config).await,
            Command::Token { command } => token(config, command).await,
            Command::Openapi => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("hookd: {e:#}");
    ExitCode::FAILURE
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let db = config.database_url.clone();
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

async fn shutdown_signal() -> anyhow::Result<()> {
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

async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
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
