//! TLS to PostgreSQL: the URL's `sslmode` and `sslrootcert`, the rustls
//! setup each mode means, and the [`Connector`] that the pool and the LISTEN
//! connection both connect through.
//!
//! The modes follow libpq:
//!
//! | `sslmode` | TLS | certificate checked |
//! | --- | --- | --- |
//! | `disable` | never | – |
//! | `prefer` (the default) | when the server offers it, else plaintext with a warning | only with `sslrootcert` (chain) |
//! | `require` | always | only with `sslrootcert` (chain, as `verify-ca`) |
//! | `verify-ca` | always | chain, against `sslrootcert` or the system roots |
//! | `verify-full` | always | chain and host name |
//!
//! Unlike libpq, `prefer` falls back to plaintext only when the server
//! answers that it has no TLS; a TLS handshake that fails is an error, since
//! retrying in plaintext then would hide exactly what TLS is there to catch.
//! TLS does not apply to Unix sockets (libpq ignores `sslmode` there too).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hookd_core::store::{StoreError, StoreResult};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::Host;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err("sslmode=allow is not supported (use prefer, or require to \
                            insist on TLS)"
                    .into());
            }
            other => {
                return Err(format!(
                    "sslmode must be disable, prefer, require, verify-ca or verify-full, \
                     not '{other}'"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted root certificates came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// `sslrootcert=PATH`.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`, or a
    /// `verify-*` mode without `sslrootcert`).
    System,
}

/// The TLS part of a database URL, checked and with its root certificates
/// loaded, so that a bad setting fails when the configuration is read.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    mode: SslMode,
    /// Whether the URL named the mode, or `prefer` is libpq's default.
    explicit: bool,
    roots: Option<(RootSource, Vec<CertificateDer<'static>>)>,
}

impl Default for TlsSettings {
    fn default() -> TlsSettings {
        TlsSettings {
            mode: SslMode::Prefer,
            explicit: false,
            roots: None,
        }
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsSettings");
        d.field("mode", &self.mode)
            .field("explicit", &self.explicit);
        match &self.roots {
            Some((from, certs)) => d.field("roots", &(from, certs.len())),
            None => d.field("roots", &None::<()>),
        };
        d.finish()
    }
}

impl TlsSettings {
    /// Checks the URL's (percent-decoded) `sslmode` and `sslrootcert`, and
    /// loads the roots they call for.
    pub fn from_params(sslmode: Option<&str>, sslrootcert: Option<&str>) -> Result<Self, String> {
        Self::build(sslmode, sslrootcert, load_system_roots)
    }

    fn build(
        sslmode: Option<&str>,
        sslrootcert: Option<&str>,
        system_roots: impl FnOnce() -> Result<Vec<CertificateDer<'static>>, String>,
    ) -> Result<Self, String> {
        let explicit = sslmode.is_some_and(|m| !m.is_empty());
        let rootcert = sslrootcert.filter(|r| !r.is_empty());
        let mode = match sslmode.filter(|m| !m.is_empty()) {
            Some(m) => SslMode::parse(m)?,
            // As libpq 16: the system's roots are only worth naming to
            // check the host name against them.
            None if rootcert == Some("system") => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        let roots = match (mode, rootcert) {
            // libpq does not read the file when TLS is off.
            (SslMode::Disable, _) => None,
            (SslMode::VerifyFull, Some("system")) => Some((RootSource::System, system_roots()?)),
            (_, Some("system")) => {
                // Any public CA can issue a certificate for some name, so
                // trusting them all without checking the name checks nothing.
                return Err(format!(
                    "sslrootcert=system needs sslmode=verify-full, not sslmode={}",
                    mode.as_str()
                ));
            }
            (_, Some(path)) => Some((RootSource::File(PathBuf::from(path)), load_file(path)?)),
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                Some((RootSource::System, system_roots()?))
            }
            (SslMode::Prefer | SslMode::Require, None) => None,
        };
        Ok(TlsSettings {
            mode,
            explicit,
            roots,
        })
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// Where the trusted roots come from, when certificates are checked.
    pub fn root_source(&self) -> Option<&RootSource> {
        self.roots.as_ref().map(|(from, _)| from)
    }

    /// The rustls client configuration for these settings.
    fn client_config(&self) -> Result<ClientConfig, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.roots) {
            (SslMode::VerifyFull, Some((_, certs))) => WebPkiServerVerifier::builder_with_provider(
                Arc::new(root_store(certs)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| StoreError::backend_from("cannot set up TLS for PostgreSQL", e))?,
            (_, Some((_, certs))) => Arc::new(ChainOnly {
                roots: Arc::new(root_store(certs)?),
                algorithms,
            }),
            // `from_params` loads roots for these modes; without them they
            // would silently check nothing.
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(StoreError::backend(
                    "no root certificates to verify the PostgreSQL server with",
                ));
            }
            (SslMode::Disable | SslMode::Prefer | SslMode::Require, None) => {
                Arc::new(AnyCertificate { algorithms })
            }
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::backend_from("cannot set up TLS for PostgreSQL", e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // PostgreSQL 17's direct TLS negotiation requires it, and servers
        // that do not know ALPN ignore it (libpq 17 sends it too).
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }
}

fn load_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("sslrootcert: cannot read '{path}': {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert: '{path}' is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert: '{path}' holds no certificate (expected PEM \
             '-----BEGIN CERTIFICATE-----' blocks)"
        ));
    }
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            format!(
                "sslrootcert: certificate {} of '{path}' cannot be used: {e}",
                i + 1
            )
        })?;
    }
    Ok(certs)
}

fn load_system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    usable_system_roots(rustls_native_certs::load_native_certs())
}

fn usable_system_roots(
    found: rustls_native_certs::CertificateResult,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut store = RootCertStore::empty();
    let usable: Vec<_> = found
        .certs
        .into_iter()
        .filter(|c| store.add(c.clone()).is_ok())
        .collect();
    if usable.is_empty() {
        let why = match found.errors.first() {
            Some(e) => format!(": {e}"),
            None => String::new(),
        };
        return Err(format!(
            "sslmode=verify-ca/verify-full without sslrootcert uses the system's root \
             certificates, and none could be loaded{why} (install the ca-certificates \
             package, set SSL_CERT_FILE, or name the server's CA with sslrootcert=PATH)"
        ));
    }
    Ok(usable)
}

fn root_store(certs: &[CertificateDer<'static>]) -> StoreResult<RootCertStore> {
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err(StoreError::backend(
            "no usable root certificate to verify the PostgreSQL server with",
        ));
    }
    Ok(store)
}

/// `verify-ca` (and `prefer`/`require` with `sslrootcert`): the chain must
/// lead to a trusted root, whatever name the certificate is for.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `prefer` and `require` without `sslrootcert`: encryption without
/// authentication, as libpq. The handshake signature is still checked, so
/// the server holds the key of the certificate it shows, which is what
/// SCRAM's channel binding relies on to detect a man in the middle.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The driver's `sslmode` for ours: it knows only whether to try TLS and
/// whether to insist; what to check is the verifier's business.
pub(crate) fn driver_mode(mode: SslMode, config: &Config) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Driver;
    let unix_only = !config.get_hosts().is_empty()
        && config.get_hostaddrs().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, Host::Tcp(_)));
    match mode {
        _ if unix_only => Driver::Disable,
        SslMode::Disable => Driver::Disable,
        SslMode::Prefer => Driver::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
    }
}

/// Makes every connection of one store (its pool, its migration pool and
/// its LISTEN connection) with the same TLS setup, and warns once when
/// `prefer` ends up in plaintext.
#[derive(Clone)]
pub(crate) struct Connector {
    explicit: bool,
    tls: MakeRustlsConnect,
    warned: Arc<AtomicBool>,
}

/// The stream of a connection made by [`Connector`].
pub(crate) type PgStream = <Attempt as MakeTlsConnect<Socket>>::Stream;

impl Connector {
    pub(crate) fn new(settings: &TlsSettings) -> StoreResult<Connector> {
        Ok(Connector {
            explicit: settings.explicit,
            tls: MakeRustlsConnect::new(settings.client_config()?),
            warned: Arc::default(),
        })
    }

    /// Connects with `config`, whose `ssl_mode` is [`driver_mode`]'s.
    pub(crate) async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, Connection<Socket, PgStream>), tokio_postgres::Error> {
        let encrypted = Arc::new(AtomicBool::new(false));
        let attempt = Attempt {
            inner: self.tls.clone(),
            encrypted: encrypted.clone(),
        };
        let connected = config.connect(attempt).await?;
        let plaintext = !encrypted.load(Ordering::Acquire)
            && config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer;
        if plaintext && !self.warned.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                host = %endpoint(config),
                sslmode = if self.explicit { "prefer" } else { "prefer (the default)" },
                "PostgreSQL does not offer TLS: connected WITHOUT encryption; \
                 sslmode=require in the database URL refuses plaintext, sslmode=disable \
                 chooses it without this warning"
            );
        }
        Ok(connected)
    }
}

impl deadpool_postgres::Connect for Connector {
    fn connect(
        &self,
        pg_config: &Config,
    ) -> Pin<
        Box<
            dyn Future<
                    Output = Result<(Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
                > + Send
                + '_,
        >,
    > {
        let pg_config = pg_config.clone();
        Box::pin(async move {
            let (client, connection) = Connector::connect(self, &pg_config).await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    // As deadpool's own connector reports it.
                    tracing::warn!(target: "deadpool.postgres", "Connection error: {}", e);
                }
            });
            Ok((client, task))
        })
    }
}

/// Hosts and ports for a log line; never the user or password.
fn endpoint(config: &Config) -> String {
    let port = |i: usize| {
        config
            .get_ports()
            .get(i)
            .or(config.get_ports().first())
            .copied()
            .unwrap_or(5432)
    };
    let mut names: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if names.is_empty() {
        names = config
            .get_hostaddrs()
            .iter()
            .map(|a| a.to_string())
            .collect();
    }
    names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}:{}", port(i)))
        .collect::<Vec<_>>()
        .join(",")
}

/// One connection attempt: rustls, plus a note of whether the handshake
/// happened, which the driver does not tell.
pub(crate) struct Attempt {
    inner: MakeRustlsConnect,
    encrypted: Arc<AtomicBool>,
}

impl MakeTlsConnect<Socket> for Attempt {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = Handshake;
    type Error = Infallible;

    fn make_tls_connect(&mut self, host: &str) -> Result<Handshake, Infallible> {
        // Called for each host tried, so what is left after a success is
        // the successful host's outcome.
        self.encrypted.store(false, Ordering::Release);
        let Ok(inner) = MakeTlsConnect::<Socket>::make_tls_connect(&mut self.inner, host);
        Ok(Handshake {
            inner,
            encrypted: self.encrypted.clone(),
        })
    }
}

pub(crate) struct Handshake {
    inner: <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect,
    encrypted: Arc<AtomicBool>,
}

impl TlsConnect<Socket> for Handshake {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        let handshake = self.inner.connect(stream);
        let encrypted = self.encrypted;
        Box::pin(async move {
            let stream = handshake.await?;
            encrypted.store(true, Ordering::Release);
            Ok(stream)
        })
    }
}

/// Whether `e` (a failed connect) failed in the TLS handshake.
pub(crate) fn is_handshake_failure(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        if s.is::<rustls::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
        panic!("system roots must not be loaded here")
    }

    fn write(dir: &tempfile::TempDir, name: &str, body: &[u8]) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn modes_and_defaults() {
        let s = TlsSettings::build(None, None, no_system_roots).unwrap();
        assert_eq!(
            (s.mode, s.explicit, s.root_source()),
            (SslMode::Prefer, false, None)
        );
        for (given, want) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
        ] {
            let s = TlsSettings::build(Some(given), None, no_system_roots).unwrap();
            assert_eq!((s.mode, s.explicit), (want, true));
            assert_eq!(s.mode.as_str(), given);
        }
    }

    #[test]
    fn bad_modes_name_the_setting() {
        for bad in ["allow", "verify_full", "REQUIRE", "on"] {
            let e = TlsSettings::build(Some(bad), None, no_system_roots).unwrap_err();
            assert!(e.contains("sslmode"), "{e}");
        }
    }

    #[test]
    fn verify_modes_without_sslrootcert_use_the_system_roots() {
        let roots = || Ok(vec![CertificateDer::from(vec![1u8, 2, 3])]);
        for mode in ["verify-ca", "verify-full"] {
            let s = TlsSettings::build(Some(mode), None, roots).unwrap();
            assert_eq!(s.root_source(), Some(&RootSource::System));
        }
        let s = TlsSettings::build(None, Some("system"), roots).unwrap();
        assert_eq!(
            (s.mode, s.root_source()),
            (SslMode::VerifyFull, Some(&RootSource::System))
        );
        let e = TlsSettings::build(Some("require"), Some("system"), roots).unwrap_err();
        assert!(e.contains("sslrootcert=system"), "{e}");
    }

    #[test]
    fn no_system_roots_is_a_clear_error() {
        let empty = rustls_native_certs::CertificateResult::default();
        let e = usable_system_roots(empty).unwrap_err();
        assert!(e.contains("system's root certificates"), "{e}");
        assert!(e.contains("sslrootcert"), "{e}");
        let e = TlsSettings::build(Some("verify-full"), None, || Err("none".into())).unwrap_err();
        assert_eq!(e, "none");
    }

    #[test]
    fn sslrootcert_is_read_and_checked_at_parse_time() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(&dir, "ca.pem", ca_pem().as_bytes());
        for mode in [
            None,
            Some("prefer"),
            Some("require"),
            Some("verify-ca"),
            Some("verify-full"),
        ] {
            let s = TlsSettings::build(mode, Some(&good), no_system_roots).unwrap();
            assert_eq!(
                s.root_source(),
                Some(&RootSource::File(good.clone().into()))
            );
            s.client_config().unwrap();
        }
        // TLS off: the file is not needed, so not read (as libpq).
        let s =
            TlsSettings::build(Some("disable"), Some("/no/such/file"), no_system_roots).unwrap();
        assert_eq!(s.root_source(), None);

        let missing = dir.path().join("missing.pem").display().to_string();
        let cases = [
            (missing, "cannot read"),
            (dir.path().display().to_string(), "cannot read"),
            (write(&dir, "empty.pem", b""), "holds no certificate"),
            (
                write(&dir, "text.pem", b"not a certificate\n"),
                "holds no certificate",
            ),
            (
                write(
                    &dir,
                    "bad64.pem",
                    b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                ),
                "not valid PEM",
            ),
            (
                write(&dir, "open.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n"),
                "not valid PEM",
            ),
            (
                write(
                    &dir,
                    "junk.pem",
                    b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                ),
                "cannot be used",
            ),
        ];
        for (path, want) in cases {
            let e =
                TlsSettings::build(Some("verify-full"), Some(&path), no_system_roots).unwrap_err();
            assert!(e.starts_with("sslrootcert"), "{path}: {e}");
            assert!(e.contains(want), "{path}: {e}");
        }
    }

    #[test]
    fn every_mode_builds_a_client_config() {
        let roots = || Ok(vec![CertificateDer::from(ca_der())]);
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let s = TlsSettings::build(Some(mode), None, roots).unwrap();
            let c = s.client_config().unwrap();
            assert_eq!(c.alpn_protocols, vec![b"postgresql".to_vec()]);
            Connector::new(&s).unwrap();
        }
    }

    fn ca_der() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        use tokio_postgres::config::SslMode as Driver;
        let unix: Config = "host=/run/postgresql user=u".parse().unwrap();
        let tcp: Config = "host=db.internal user=u".parse().unwrap();
        assert_eq!(driver_mode(SslMode::VerifyFull, &unix), Driver::Disable);
        assert_eq!(driver_mode(SslMode::VerifyFull, &tcp), Driver::Require);
        assert_eq!(driver_mode(SslMode::Prefer, &tcp), Driver::Prefer);
        assert_eq!(driver_mode(SslMode::Disable, &tcp), Driver::Disable);
    }

    #[test]
    fn the_log_names_hosts_and_ports_only() {
        let c: Config = "postgres://u:secret@db1:5433,db2/x".parse().unwrap();
        assert_eq!(endpoint(&c), "db1:5433,db2:5432");
        let c: Config = "postgres://u:secret@db1/x".parse().unwrap();
        assert_eq!(endpoint(&c), "db1:5432");
    }
}
