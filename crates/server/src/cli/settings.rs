//! Where the client commands find the server's URL and API key: a flag
//! (`--url`, `--token`), else an environment variable (`HOOKD_URL`,
//! `HOOKD_TOKEN`), else the CLI's TOML file, else the default URL and no
//! key. Each value remembers its source, so an error can say which one to fix.
//!
//! The file is `$HOOKD_CLI_CONFIG` when set, else
//! `$XDG_CONFIG_HOME/hookd/cli.toml`, else `$HOME/.config/hookd/cli.toml`;
//! never a path relative to the working directory. It is read only when a
//! flag or variable leaves something unset.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use url::Url;

use super::UsageError;

/// URL used when none is given anywhere: `hookd serve`'s default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8071";

/// Flags naming the server to talk to.
#[derive(Args, Clone, Debug, Default)]
pub struct ConnArgs {
    /// URL of the hookd server [env: HOOKD_URL] [default: http://127.0.0.1:8071]
    // Own ids, so commands may have an argument named `url` (an endpoint's).
    #[arg(long = "url", id = "server_url", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// API key (`hookd token create`) [env: HOOKD_TOKEN]
    #[arg(long = "token", id = "server_token", global = true, value_name = "KEY")]
    pub token: Option<String>,
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
    /// Not given anywhere.
    Missing,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "from {flag}"),
            Source::Env(var) => write!(f, "from ${var}"),
            Source::File(p) => write!(f, "from {}", p.display()),
            Source::Default => f.write_str("the default"),
            Source::Missing => f.write_str("not set"),
        }
    }
}

/// The resolved connection settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub url: Url,
    pub url_source: Source,
    pub token: Option<String>,
    pub token_source: Source,
    /// The CLI config file that applies (whether or not it exists), for hints.
    pub file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    url: Option<String>,
    token: Option<String>,
}

/// The environment the settings are read from (a parameter for tests).
pub struct Env<'a> {
    pub get: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }
}

/// The CLI config file's path, from the environment.
pub fn config_path(env: &Env) -> Option<PathBuf> {
    if let Some(p) = env.var("HOOKD_CLI_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(xdg) = env.var("XDG_CONFIG_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("hookd").join("cli.toml"));
    }
    env.var("HOME").map(|h| {
        PathBuf::from(h)
            .join(".config")
            .join("hookd")
            .join("cli.toml")
    })
}

fn read_file(path: &Path, explicit: bool) -> Result<FileSettings, UsageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileSettings::default());
        }
        Err(e) => {
            return Err(UsageError(format!(
                "cannot read the CLI config file {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|e| {
        UsageError(format!(
            "the CLI config file {} is invalid (expected `url = \"…\"` and `token = \"…\"`): {}",
            path.display(),
            e.message()
        ))
    })
}

/// Parses and checks a server URL.
pub fn parse_url(text: &str, source: &Source) -> Result<Url, UsageError> {
    let url = Url::parse(text.trim()).map_err(|e| {
        UsageError(format!(
            "invalid hookd URL {text:?} ({source}): {e}; expected e.g. {DEFAULT_URL}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(UsageError(format!(
            "invalid hookd URL {text:?} ({source}): expected an http:// or https:// URL such as {DEFAULT_URL}"
        )));
    }
    Ok(url)
}

/// Resolves the settings from the flags, the process environment and the file.
pub fn resolve(args: &ConnArgs) -> Result<Settings, UsageError> {
    let get = |name: &str| std::env::var(name).ok();
    resolve_with(args, &Env { get: &get })
}

/// [`resolve`] with the environment passed in.
pub fn resolve_with(args: &ConnArgs, env: &Env) -> Result<Settings, UsageError> {
    let mut url = args
        .url
        .clone()
        .map(|u| (u, Source::Flag("--url")))
        .or_else(|| env.var("HOOKD_URL").map(|u| (u, Source::Env("HOOKD_URL"))));
    let mut token = args
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .map(|t| (t, Source::Flag("--token")))
        .or_else(|| {
            env.var("HOOKD_TOKEN")
                .map(|t| (t, Source::Env("HOOKD_TOKEN")))
        });
    let file = config_path(env);
    if (url.is_none() || token.is_none())
        && let Some(path) = &file
    {
        let explicit = env.var("HOOKD_CLI_CONFIG").is_some();
        let f = read_file(path, explicit)?;
        if url.is_none() {
            url = f.url.map(|u| (u, Source::File(path.clone())));
        }
        if token.is_none() {
            token = f
                .token
                .filter(|t| !t.is_empty())
                .map(|t| (t, Source::File(path.clone())));
        }
    }
    let (url_text, url_source) = url.unwrap_or_else(|| (DEFAULT_URL.to_string(), Source::Default));
    let url = parse_url(&url_text, &url_source)?;
    let (token, token_source) = match token {
        Some((t, s)) => (Some(t.trim().to_string()), s),
        None => (None, Source::Missing),
    };
    Ok(Settings {
        url,
        url_source,
        token,
        token_source,
        file,
    })
}

impl Settings {
    /// How to set the URL, for error messages.
    pub fn how_to_set_url(&self) -> String {
        format!(
            "set it with --url URL, HOOKD_URL=URL or `url = \"URL\"` in {}",
            self.file_name()
        )
    }

    /// How to set the key, for error messages.
    pub fn how_to_set_token(&self) -> String {
        format!(
            "create a key with `hookd token create` (on the server's machine) and pass it with --token KEY, HOOKD_TOKEN=KEY or `token = \"KEY\"` in {}",
            self.file_name()
        )
    }

    fn file_name(&self) -> String {
        self.file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/hookd/cli.toml".into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    fn resolve_in(args: ConnArgs, vars: &[(&str, &str)]) -> Result<Settings, UsageError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = move |k: &str| map.get(k).cloned();
        resolve_with(&args, &Env { get: &get })
    }

    #[test]
    fn flags_beat_variables_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cli.toml");
        std::fs::write(&file, "url = \"http://file:1\"\ntoken = \"file-token\"\n").unwrap();
        let path = file.to_str().unwrap();

        let s = resolve_in(ConnArgs::default(), &[("HOOKD_CLI_CONFIG", path)]).unwrap();
        assert_eq!(s.url.as_str(), "http://file:1/");
        assert_eq!(s.token.as_deref(), Some("file-token"));
        assert_eq!(s.token_source, Source::File(file.clone()));

        let s = resolve_in(
            ConnArgs::default(),
            &[
                ("HOOKD_CLI_CONFIG", path),
                ("HOOKD_URL", "http://env:2"),
                ("HOOKD_TOKEN", "env-token"),
            ],
        )
        .unwrap();
        assert_eq!(s.url.as_str(), "http://env:2/");
        assert_eq!(s.token_source, Source::Env("HOOKD_TOKEN"));

        let args = ConnArgs {
            url: Some("https://flag:3/prefix".into()),
            token: Some("flag-token".into()),
        };
        let s = resolve_in(args, &[("HOOKD_URL", "http://env:2")]).unwrap();
        assert_eq!(s.url.as_str(), "https://flag:3/prefix");
        assert_eq!(s.token.as_deref(), Some("flag-token"));
        assert_eq!(s.url_source, Source::Flag("--url"));
    }

    #[test]
    fn defaults_and_file_locations() {
        let s = resolve_in(ConnArgs::default(), &[("HOME", "/nonexistent-home")]).unwrap();
        assert_eq!(s.url.as_str(), "http://127.0.0.1:8071/");
        assert_eq!(s.url_source, Source::Default);
        assert_eq!(s.token, None);
        assert_eq!(
            s.file,
            Some(PathBuf::from("/nonexistent-home/.config/hookd/cli.toml"))
        );
        let s = resolve_in(
            ConnArgs::default(),
            &[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")],
        )
        .unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/x/hookd/cli.toml")));
        // A relative XDG_CONFIG_HOME is ignored, as the spec says.
        let s = resolve_in(
            ConnArgs::default(),
            &[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")],
        )
        .unwrap();
        assert_eq!(s.file, Some(PathBuf::from("/h/.config/hookd/cli.toml")));
    }

    #[test]
    fn bad_values_are_named() {
        let e = resolve_in(ConnArgs::default(), &[("HOOKD_URL", "localhost:8071")]).unwrap_err();
        assert!(
            e.0.contains("HOOKD_URL") && e.0.contains("localhost:8071"),
            "{e}"
        );
        let e = resolve_in(
            ConnArgs::default(),
            &[("HOOKD_CLI_CONFIG", "/nonexistent/cli.toml")],
        )
        .unwrap_err();
        assert!(e.0.contains("/nonexistent/cli.toml"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cli.toml");
        std::fs::write(&file, "server = \"http://x\"\n").unwrap();
        let e = resolve_in(
            ConnArgs::default(),
            &[("HOOKD_CLI_CONFIG", file.to_str().unwrap())],
        )
        .unwrap_err();
        assert!(e.0.contains("server") && e.0.contains("cli.toml"), "{e}");
    }
}
