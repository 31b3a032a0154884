//! Command-line interface: the clap definitions and the dispatch.
//!
//! Three families of commands share the `hookd` binary:
//! - server side (`serve`, `token`, `openapi`): read the server
//!   configuration and the database (`server`);
//! - sender side (`apps`, `endpoints`, `event-types`, `send`, `attempts`,
//!   `resend`, `recover`): talk to a running hookd over its HTTP API
//!   (`resources`, `messages`, `attempts`; through `client`,
//!   configured by `settings`; reading `input`, printing with `output`);
//! - receiver side (`listen`, `verify`): a local webhook receiver and a
//!   signature checker (`listen`, `verify`).
//!
//! Exit status: 0 success, 1 failure (an API error, an unreachable server,
//! an invalid webhook), 2 a usage or configuration error.

mod attempts;
mod call;
mod client;
mod health;
mod input;
mod listen;
mod messages;
mod output;
mod resources;
mod server;
mod settings;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};
use settings::ConnArgs;

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
    /// TOML configuration file of the server (serve, token).
    // Listed last: the other commands accept but ignore the server's settings.
    #[arg(long, global = true, value_name = "FILE", display_order = 1000)]
    config: Option<PathBuf>,
    /// Database URL (serve, token): sqlite:PATH [env: HOOKD_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL", display_order = 1000)]
    database_url: Option<String>,
}

/// `--json`: print the API's JSON instead of tables.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct Format {
    /// Print the API's JSON as received, for scripts, instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The flags and subcommands shared by `apps`, `endpoints` and `event-types`.
#[derive(Args)]
struct Objects<C: Subcommand> {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    format: Format,
    #[command(subcommand)]
    command: C,
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
    /// Create or upgrade the database schema, then exit (`serve` also does
    /// this at start).
    Migrate,
    /// Validate the configuration (defaults, --config file, HOOKD_* variables,
    /// flags) without starting, and print the settings in effect.
    #[command(name = "check-config")]
    CheckConfig(ServeArgs),
    /// Manage applications on a hookd server.
    #[command(visible_alias = "app")]
    Apps(Objects<resources::AppCommand>),
    /// Manage an application's endpoints.
    #[command(visible_alias = "endpoint")]
    Endpoints(Objects<resources::EndpointCommand>),
    /// Manage event types.
    #[command(name = "event-types", visible_alias = "event-type")]
    EventTypes(Objects<resources::EventTypeCommand>),
    /// Send a message (the payload from --payload, --file or stdin).
    Send(messages::SendArgs),
    /// Show the delivery attempt log (with --follow, keep printing new attempts).
    Attempts(attempts::AttemptsArgs),
    /// Attempt a message to an endpoint again, now.
    Resend(messages::ResendArgs),
    /// Resend every failed delivery to an endpoint since a time.
    Recover(messages::RecoverArgs),
    /// Receive webhooks locally: print, verify and optionally forward them.
    Listen(listen::ListenArgs),
    /// Check a captured webhook's signature and timestamp.
    Verify(verify::VerifyArgs),
    /// Ask a running server's /api/v1/health; exit 0 when it is healthy
    /// (for container and service health checks).
    Health(health::HealthArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [env: HOOKD_LISTEN] [default: 127.0.0.1:8071]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Largest accepted message payload in bytes [env: HOOKD_MAX_PAYLOAD_BYTES]
    #[arg(long, value_name = "BYTES")]
    max_payload_bytes: Option<String>,
    /// all (API and delivery), api or worker; api and worker need PostgreSQL [env: HOOKD_ROLE]
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
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

/// A mistake in how a command was called (a bad flag value, an unreadable
/// file, an invalid CLI config): exit status 2, like clap's usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(_)
        | Command::Token { .. }
        | Command::Openapi
        | Command::CheckConfig(_)
        | Command::Migrate => server_side(cli),
        Command::Health(_) => health_check(cli),
        command => client_side(command),
    }
}

/// `health`: a client of the server's own listener, found through the
/// server's configuration unless `--url` is given.
fn health_check(cli: Cli) -> ExitCode {
    let Command::Health(args) = &cli.command else {
        return ExitCode::FAILURE;
    };
    let base = match health::base_url(args, || {
        let mut flags = Overrides::default();
        if let Some(url) = &cli.global.database_url {
            flags.0.push(("database_url", url.clone()));
        }
        Config::load(cli.global.config.as_deref(), &flags)
    }) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(health::run(base, args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Prints the settings in effect (the admin token masked) after they validated.
fn check_config(config: &Config) -> ExitCode {
    let mut shown = config.clone();
    if !shown.admin_token.is_empty() {
        shown.admin_token = "********".into();
    }
    shown.database_url = hookd_store::redact_url(&shown.database_url);
    shown.proxy = hookd_store::redact_url(&shown.proxy);
    match toml::to_string(&shown) {
        Ok(text) => {
            println!("{text}");
            eprintln!("configuration is valid");
            ExitCode::SUCCESS
        }
        Err(e) => fail(anyhow::anyhow!("cannot show the configuration: {e}")),
    }
}

/// `serve`, `token` and `openapi`: unchanged from before the client commands.
fn server_side(cli: Cli) -> ExitCode {
    let mut flags = Overrides::default();
    if let Some(url) = &cli.global.database_url {
        flags.0.push(("database_url", url.clone()));
    }
    if let Command::Serve(args) | Command::CheckConfig(args) = &cli.command {
        for (name, value) in [
            ("listen", &args.listen),
            ("role", &args.role),
            ("max_payload_bytes", &args.max_payload_bytes),
        ] {
            if let Some(v) = value {
                flags.0.push((name, v.clone()));
            }
        }
    }
    if let Command::Openapi = cli.command {
        let printed = serde_json::to_string_pretty(&crate::api::openapi()).map(|s| println!("{s}"));
        return exit(printed.map_err(Into::into));
    }
    let config = match Config::load(cli.global.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hookd: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig(_) = cli.command {
        return check_config(&config);
    }
    let traces = server::init_logging(&config);
    let runtime = match runtime(tokio::runtime::Builder::new_multi_thread()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => server::serve(config).await,
            Command::Token { command } => server::token(config, command).await,
            Command::Migrate => server::migrate(config).await,
            _ => Ok(()),
        }
    });
    if let Some(provider) = traces {
        // Flushes the spans still batched.
        let _ = provider.shutdown();
    }
    exit(result)
}

/// The client commands: no server configuration, no database, no logging
/// subscriber; a small single-threaded runtime.
fn client_side(command: Command) -> ExitCode {
    let runtime = match runtime(tokio::runtime::Builder::new_current_thread()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Apps(o) => resources::apps(&o.conn, o.format, o.command).await,
            Command::Endpoints(o) => resources::endpoints(&o.conn, o.format, o.command).await,
            Command::EventTypes(o) => resources::event_types(&o.conn, o.format, o.command).await,
            Command::Send(args) => messages::send(args).await,
            Command::Attempts(args) => attempts::attempts(args).await,
            Command::Resend(args) => messages::resend(args).await,
            Command::Recover(args) => messages::recover(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Verify(args) => verify::run(args),
            Command::Serve(_)
            | Command::Token { .. }
            | Command::Openapi
            | Command::CheckConfig(_)
            | Command::Migrate
            | Command::Health(_) => Ok(()),
        }
    });
    exit(result)
}

fn runtime(mut builder: tokio::runtime::Builder) -> anyhow::Result<tokio::runtime::Runtime> {
    builder
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("hookd: {e:#}");
    if e.chain().any(|c| c.is::<UsageError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}
