//! TLS for the checks and for keepwatch's own outgoing requests, and the
//! API's server certificate (`server_config`): trust (the system's authorities plus an optional CA
//! file), a verifier that notes the server's certificate before judging it,
//! validation time taken from the [`Clock`]. How a check words a certificate
//! problem is `checks::certificate`.
//!
//! The certificate's end date is read by a few lines of DER walking rather
//! than an X.509 crate: keepwatch needs three fields, and every dependency
//! adds to the binary, which is most of the agent's memory.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::clock::Clock;

/// What a certificate says about itself, as far as the checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertSummary {
    /// When it ends.
    pub not_after: Timestamp,
    /// Issuer and subject are the same: nobody vouches for it.
    pub self_signed: bool,
    /// The issuer's common name, when it has one.
    pub issuer: Option<String>,
}

/// What the verifier saw during the handshakes of one check run.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// The server certificate of the latest handshake.
    pub cert: Option<CertSummary>,
    /// Why the latest certificate was refused, if it was.
    pub error: Option<rustls::Error>,
}

/// Shared between the verifier inside the HTTP client and the check that reads it.
pub(crate) type SeenCell = Arc<Mutex<Seen>>;

/// The authorities this computer trusts, read once per process (at the first
/// TLS connection) and shared by the checks and the notifications. Unreadable
/// entries are skipped: one broken file in the system store should not stop
/// every HTTPS check.
pub(crate) fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            Arc::new(roots)
        })
        .clone()
}

/// `base` plus the certificates in the PEM file at `path`.
pub(crate) fn with_ca_file(base: &RootCertStore, path: &Path) -> Result<RootCertStore, String> {
    let mut roots = base.clone();
    for cert in pem_certificates(path)? {
        roots
            .add(cert)
            .map_err(|err| format!("holds a certificate that cannot be used: {err}"))?;
    }
    Ok(roots)
}

/// The certificates in the PEM file at `path`, in file order; at least one.
fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|err| format!("cannot be read: {err}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("is not a valid PEM file: {err}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)".to_owned());
    }
    Ok(certs)
}

/// Which of a server's two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFile {
    /// The certificate chain.
    Certificate,
    /// The private key.
    Key,
}

/// Why a server certificate and key cannot be used, in words that name the
/// file and say what to give instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsError {
    /// The file at fault.
    pub file: ServerFile,
    /// What is wrong, naming the file.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// A rustls server configuration (ring, safe defaults, HTTP/1.1) from a PEM
/// certificate chain and its PEM private key, for keepwatch's own HTTPS.
/// Every way the pair can be unusable is found here, so it is found when the
/// config is loaded rather than at the first connection.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, ServerTlsError> {
    let certs = pem_certificates(cert).map_err(|why| ServerTlsError {
        file: ServerFile::Certificate,
        message: format!("`{}` {why}", cert.display()),
        hint:
            "give the server's certificate chain as a PEM file (e.g. Let's Encrypt's fullchain.pem)"
                .to_owned(),
    })?;
    let key_error = |why: String| ServerTlsError {
        file: ServerFile::Key,
        message: format!("`{}` {why}", key.display()),
        hint: "give the certificate's private key as a PEM file (e.g. Let's Encrypt's privkey.pem)"
            .to_owned(),
    };
    let pem = std::fs::read(key).map_err(|err| key_error(format!("cannot be read: {err}")))?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|err| {
        key_error(match err {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no private key (expected a PEM \"BEGIN PRIVATE KEY\" block)".to_owned()
            }
            err => format!("is not a valid PEM key: {err}"),
        })
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| key_error(format!("cannot be used: {err}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(_) => ServerTlsError {
                file: ServerFile::Key,
                message: format!(
                    "`{}` is not the key of the certificate in `{}`",
                    key.display(),
                    cert.display()
                ),
                hint: "use the key that was made together with this certificate".to_owned(),
            },
            err => key_error(format!("cannot be used with `{}`: {err}", cert.display())),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A rustls client configuration (ring, safe defaults) that trusts `roots`,
/// validates at the clock's time and records what it sees into `seen`.
/// With no roots at all (a computer without CA certificates) every server
/// certificate is untrusted, but plain HTTP still works.
pub(crate) fn client_config(
    roots: Arc<RootCertStore>,
    clock: Arc<dyn Clock>,
    seen: SeenCell,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = if roots.is_empty() {
        None
    } else {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|err| format!("the trusted authorities cannot be used ({err})"))?;
        Some(verifier)
    };
    let verifier = Recording {
        inner,
        algorithms: provider.signature_verification_algorithms,
        seen,
    };
    let config = ClientConfig::builder_with_details(provider, Arc::new(ClockTime(clock)))
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// A client builder for keepwatch's own outgoing requests (notifications),
/// with the TLS the checks use (ring, the system's authorities, validation at
/// `clock`'s time) so there is one TLS setup to trust and maintain. No proxy,
/// as for checks; callers add their own timeout and redirect policy.
pub(crate) fn outgoing_client_builder(
    clock: Arc<dyn Clock>,
) -> Result<reqwest::ClientBuilder, String> {
    outgoing_client_trusting(clock, None)
}

/// Like [`outgoing_client_builder`], also trusting the certificates in the
/// PEM file `ca_file` (a hub's self-signed certificate).
pub(crate) fn outgoing_client_trusting(
    clock: Arc<dyn Clock>,
    ca_file: Option<&Path>,
) -> Result<reqwest::ClientBuilder, String> {
    let roots = match ca_file {
        None => system_roots(),
        Some(path) => Arc::new(
            with_ca_file(&system_roots(), path)
                .map_err(|err| format!("{}: {err}", path.display()))?,
        ),
    };
    let tls = client_config(roots, clock, SeenCell::default())?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .user_agent(concat!("keepwatch/", env!("CARGO_PKG_VERSION"))))
}

#[derive(Debug)]
struct ClockTime(Arc<dyn Clock>);

impl rustls::time_provider::TimeProvider for ClockTime {
    fn current_time(&self) -> Option<UnixTime> {
        let secs = u64::try_from(self.0.now().as_second()).ok()?;
        Some(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
    }
}

/// The standard verifier, noting the certificate and the verdict on the way:
/// the end date is then known even when the handshake fails.
#[derive(Debug)]
struct Recording {
    /// `None` when there is no authority to trust.
    inner: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    seen: SeenCell,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.cert = summarize(end_entity);
        seen.error = verdict.as_ref().err().cloned();
        verdict
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

/// A rustls time as a jiff timestamp (the far future when it does not fit).
pub(crate) fn unix(at: UnixTime) -> Timestamp {
    i64::try_from(at.as_secs())
        .ok()
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .unwrap_or(Timestamp::MAX)
}

/// End date, self-signedness and issuer of a DER certificate; `None` when it
/// does not parse.
pub(crate) fn summarize(der: &[u8]) -> Option<CertSummary> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let (tag, _, after_version) = tlv(tbs)?;
    let rest = if tag == 0xA0 { after_version } else { tbs };
    let (_serial, _, rest) = tlv(rest)?;
    let (_algorithm, _, rest) = tlv(rest)?;
    let (0x30, issuer, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, validity, rest) = tlv(rest)? else {
        return None;
    };
    let (0x30, subject, _) = tlv(rest)? else {
        return None;
    };
    let (_not_before, _, validity) = tlv(validity)?;
    let (tag, not_after, _) = tlv(validity)?;
    Some(CertSummary {
        not_after: der_time(tag, not_after)?,
        self_signed: issuer == subject,
        issuer: common_name(issuer),
    })
}

/// One DER element: (tag, contents, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0_usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, 0x18).
fn der_time(tag: u8, bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i16 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let two = |at: usize| rest[at..at + 2].parse::<i8>().ok();
    jiff::civil::DateTime::new(year, two(0)?, two(2)?, two(4)?, two(6)?, two(8)?, 0)
        .ok()?
        .to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The common name (OID 2.5.4.3) of a DER distinguished name.
fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (_, mut set, rest) = tlv(name)?;
        name = rest;
        while !set.is_empty() {
            let (_, attribute, rest) = tlv(set)?;
            set = rest;
            let (0x06, oid, value) = tlv(attribute)? else {
                return None;
            };
            if oid == [0x55, 0x04, 0x03] {
                let (_, text, _) = tlv(value)?;
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_after: (i32, u8, u8), self_signed: bool) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["shop.example".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "shop.example");
        let key = rcgen::KeyPair::generate().unwrap();
        if self_signed {
            return params.self_signed(&key).unwrap().der().to_vec();
        }
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test Authority");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca, rcgen::KeyPair::generate().unwrap());
        params.signed_by(&key, &issuer).unwrap().der().to_vec()
    }

    #[test]
    fn the_end_date_issuer_and_self_signedness_are_read_from_der() {
        let summary = summarize(&cert((2031, 7, 9), false)).unwrap();
        assert_eq!(summary.not_after, "2031-07-09T00:00:00Z".parse().unwrap());
        assert!(!summary.self_signed);
        assert_eq!(summary.issuer.as_deref(), Some("Test Authority"));

        let own = summarize(&cert((2030, 1, 2), true)).unwrap();
        assert!(own.self_signed);
        assert_eq!(own.issuer.as_deref(), Some("shop.example"));
    }

    #[test]
    fn dates_past_2049_use_generalized_time() {
        let summary = summarize(&cert((2051, 2, 3), true)).unwrap();
        assert_eq!(summary.not_after, "2051-02-03T00:00:00Z".parse().unwrap());
    }

    #[test]
    fn der_times_of_both_forms_parse_and_nonsense_does_not() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            der_time(0x17, b"260303120000Z"),
            Some(at("2026-03-03T12:00:00Z"))
        );
        assert_eq!(
            der_time(0x17, b"990101000000Z"),
            Some(at("1999-01-01T00:00:00Z"))
        );
        assert_eq!(
            der_time(0x18, b"20510203000000Z"),
            Some(at("2051-02-03T00:00:00Z"))
        );
        assert_eq!(der_time(0x17, b"261303120000Z"), None);
        assert_eq!(der_time(0x17, b"2603031200Z"), None);
        assert_eq!(der_time(0x04, b"260303120000Z"), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(summarize(b""), None);
        assert_eq!(summarize(b"\x30\x82\xff\xff"), None);
        assert_eq!(summarize(b"hello world"), None);
        let good = cert((2031, 7, 9), false);
        assert_eq!(summarize(&good[..good.len() / 2]), None);
    }
}
