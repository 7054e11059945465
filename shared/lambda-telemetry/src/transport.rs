//! The crate's one HTTP client: a reqwest client with its connection pool and TLS setup,
//! shared by what sends over HTTP (the OTLP and Rollbar sinks, and the traced client handlers
//! get from [`http_client`](crate::http_client)). It knows nothing of traces: the traced
//! client wraps it, the sinks use it bare so their own requests are never traced.

/// The one reqwest client of the crate (OTLP, Rollbar, [`http_client`](crate::http_client)),
/// made on first use and shared, so its connection pool and TLS setup are paid once.
///
/// Its roots are Mozilla's, compiled in (webpki-roots), instead of reqwest's default platform
/// verifier, which reads and parses the system bundle each time a client is built: about 18 M
/// instructions, 5 ms on the benchmark machine and more on a small Lambda, billed on the first
/// flush of every cold start.
pub(crate) fn shared_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|config| {
                    let mut config = config.with_root_certificates(roots).with_no_client_auth();
                    // reqwest is built without HTTP/2 here.
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                    config
                });
            let builder = match tls {
                Ok(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls),
                Err(_) => reqwest::Client::builder(),
            };
            builder.build().unwrap_or_default()
        })
        .clone()
}
