//! The API over HTTPS (`[api] cert_file` / `key_file`), as a client that
//! trusts the certificate's authority sees it: a CA and a server certificate
//! made with rcgen, the server on a loopback port, reqwest with rustls.

use std::sync::Arc;

use keepwatch::api::{self, Role, Settings};
use keepwatch::calendar::{BusinessConfig, Calendar};
use keepwatch::clock::{Clock, SimClock};
use keepwatch::config::ApiConfig;
use keepwatch::store::{StorageConfig, Store};

/// A CA's certificate (PEM) and a certificate for 127.0.0.1 it signed, with
/// its key, written to `dir` as `cert.pem` and `key.pem`.
fn certificates(dir: &std::path::Path) -> String {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "keepwatch API test CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    ca_pem
}

/// The API's settings on a free loopback port with this certificate and key.
fn https_settings(cert_file: std::path::PathBuf, key_file: std::path::PathBuf) -> Settings {
    Settings {
        api: ApiConfig {
            listen: "127.0.0.1:0".into(),
            cert_file,
            key_file,
            ..ApiConfig::default()
        },
        services: Vec::new(),
        calendar: Calendar::from_config(&BusinessConfig::default(), jiff::tz::TimeZone::UTC)
            .unwrap(),
        alerter: keepwatch::config::Config::default().alerter(),
        channels: Vec::new(),
        host: "shop-server".into(),
        storage: StorageConfig::default(),
        config: keepwatch::config::Config::default(),
    }
}

/// An HTTPS client that trusts only the authority `ca_pem`.
fn trusting(ca_pem: &str) -> reqwest::Client {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_api_answers_over_https_when_given_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = certificates(dir.path());
    let database = dir.path().join("keepwatch.db");
    let now = "2026-11-02T10:00:00Z".parse().unwrap();
    let mut store = Store::open(&database, &StorageConfig::default()).unwrap();
    let token = api::create_token(&mut store, "grafana", Role::Viewer, now).unwrap();
    let settings = https_settings(dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new(now));
    let running = api::spawn(&settings, &database, clock)
        .await
        .unwrap()
        .unwrap();
    let addr = running.addr;

    // A client that never finishes its handshake holds nobody up.
    let _stalled = tokio::net::TcpStream::connect(addr).await.unwrap();

    let client = trusting(&ca_pem);
    let answer = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = client
        .get(format!("https://{addr}/api/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("shop-server"));

    let untrusting = trusting(&certificates(tempfile::tempdir().unwrap().path()));
    let refused = untrusting
        .get(format!("https://{addr}/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client that does not trust the CA is refused"
    );
    let plain = client.get(format!("http://{addr}/healthz")).send().await;
    assert!(
        plain.map_or(true, |a| !a.status().is_success()),
        "plain HTTP gets no answer from the HTTPS port"
    );
    let answer = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "still serving after refused handshakes"
    );
}

#[tokio::test]
async fn a_certificate_that_went_missing_since_loading_stops_only_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let settings = https_settings(dir.path().join("gone.pem"), dir.path().join("gone.key"));
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new("2026-11-02T10:00:00Z".parse().unwrap()));
    let err = api::spawn(&settings, &dir.path().join("keepwatch.db"), clock)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("[api] cert_file: `") && err.contains("gone.pem` cannot be read"),
        "{err}"
    );
}
