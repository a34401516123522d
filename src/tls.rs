//! TLS for the checks: trust (the system's authorities plus an optional CA
//! file), a verifier that notes the server's certificate before judging it,
//! validation time taken from the [`Clock`], and certificate problems told
//! in plain words.
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
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::checks::CheckOutcome;
use crate::checks::wording::{date, days, possessive, quote};
use crate::clock::Clock;
use crate::vocabulary::FailureKind;

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

/// The authorities this computer trusts. Unreadable entries are skipped: one
/// broken file in the system store should not stop every HTTPS check.
pub(crate) fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// `base` plus the certificates in the PEM file at `path`.
pub(crate) fn with_ca_file(base: &RootCertStore, path: &Path) -> Result<RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|err| format!("cannot be read: {err}"))?;
    let mut roots = base.clone();
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|err| format!("is not a valid PEM file: {err}"))?;
        roots
            .add(cert)
            .map_err(|err| format!("holds a certificate that cannot be used: {err}"))?;
        added += 1;
    }
    if added == 0 {
        return Err("holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)".to_owned());
    }
    Ok(roots)
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

/// The outcome for a TLS failure talking to `host`; `cert` is what the
/// server presented, when it got that far.
pub(crate) fn failure(
    name: &str,
    host: &str,
    err: &rustls::Error,
    cert: Option<&CertSummary>,
) -> CheckOutcome {
    let whose = possessive(name);
    let outcome = match err {
        rustls::Error::InvalidCertificate(problem) => match problem {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                let ended = match problem {
                    CertificateError::ExpiredContext { not_after, .. } => Some(unix(*not_after)),
                    _ => cert.map(|c| c.not_after),
                };
                let when = ended
                    .map(|at| format!(" on {}", date(at)))
                    .unwrap_or_default();
                CheckOutcome::failed(
                    FailureKind::CertificateExpired,
                    format!(
                        "{whose} certificate expired{when}: renew it (and check why automatic renewal did not)."
                    ),
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let presented = match problem {
                    CertificateError::NotValidForNameContext { presented, .. }
                        if presented.iter().any(|p| presented_name(p).is_some()) =>
                    {
                        let names: Vec<String> =
                            presented.iter().filter_map(|p| presented_name(p)).collect();
                        format!(" is for {}, not {host}", names.join(", "))
                    }
                    _ => format!(" is not valid for {host}"),
                };
                CheckOutcome::failed(
                    FailureKind::CertificateWrongHost,
                    format!(
                        "{whose} certificate{presented}: install a certificate that covers {host}, or check the URL's host name."
                    ),
                )
            }
            _ if untrusted(problem, cert) => {
                let explanation = match cert {
                    Some(c) if c.self_signed => format!(
                        "{whose} certificate is self-signed, so browsers and keepwatch do not trust it: install one from a public authority (e.g. Let's Encrypt), or set `ca_file` to this certificate if it is meant to be private."
                    ),
                    Some(CertSummary {
                        issuer: Some(issuer),
                        ..
                    }) => format!(
                        "{whose} certificate is signed by {}, an authority this computer does not trust: install the missing intermediate certificate on the server, or set `ca_file` for a private authority.",
                        quote(issuer)
                    ),
                    _ => format!(
                        "{whose} certificate is signed by an authority this computer does not trust: install the missing intermediate certificate on the server, or set `ca_file` for a private authority."
                    ),
                };
                CheckOutcome::failed(FailureKind::CertificateUntrusted, explanation)
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                let from = match problem {
                    CertificateError::NotValidYetContext { not_before, .. } => {
                        format!(" until {}", date(unix(*not_before)))
                    }
                    _ => " yet".to_owned(),
                };
                CheckOutcome::failed(
                    FailureKind::CertificateInvalid,
                    format!(
                        "{whose} certificate is not valid{from}: check the clocks of the server and of this computer."
                    ),
                )
            }
            CertificateError::Revoked => CheckOutcome::failed(
                FailureKind::CertificateInvalid,
                format!(
                    "{whose} certificate has been revoked by its authority: install a new one."
                ),
            ),
            other => CheckOutcome::failed(
                FailureKind::CertificateInvalid,
                format!(
                    "{whose} certificate cannot be accepted ({other:?}): replace it with a valid certificate."
                ),
            ),
        },
        rustls::Error::InvalidMessage(_) => CheckOutcome::failed(
            FailureKind::TlsError,
            format!(
                "{whose} secure connection failed: the server did not answer in TLS ({err}); if this port serves plain HTTP, use an http:// URL."
            ),
        ),
        rustls::Error::AlertReceived(alert) => CheckOutcome::failed(
            FailureKind::TlsError,
            format!(
                "{whose} server refused the secure connection (TLS alert: {alert:?}): its TLS settings may be too old or too strict for modern clients."
            ),
        ),
        other => CheckOutcome::failed(
            FailureKind::TlsError,
            format!(
                "{whose} secure connection failed ({other}): check the server's TLS configuration."
            ),
        ),
    };
    CheckOutcome {
        certificate_expires: cert.map(|c| c.not_after),
        ..outcome
    }
}

/// `Some(degraded outcome)` when the certificate ends within `warning` of `now`.
pub(crate) fn expiry_warning(
    name: &str,
    cert: &CertSummary,
    now: Timestamp,
    warning: Duration,
) -> Option<CheckOutcome> {
    let left = cert.not_after.duration_since(now);
    if left.is_negative() || left.as_secs() as u64 > warning.as_secs() {
        return None;
    }
    let days_left = left.as_secs() / 86_400;
    let when = match days_left {
        0 => "today".to_owned(),
        n => format!("in {}", days(n)),
    };
    let mut outcome = CheckOutcome::failed(
        FailureKind::CertificateExpiring,
        format!(
            "{} certificate expires on {}, {when}: renew it soon (or check that automatic renewal works).",
            possessive(name),
            date(cert.not_after)
        ),
    );
    outcome.certificate_expires = Some(cert.not_after);
    Some(outcome)
}

/// Nobody trusted vouches for the certificate. A self-signed certificate whose
/// issuer name happens to be that of a trusted authority fails on the
/// signature instead of the issuer; it is just as untrusted.
fn untrusted(problem: &CertificateError, cert: Option<&CertSummary>) -> bool {
    let self_signed = cert.is_some_and(|c| c.self_signed);
    match problem {
        CertificateError::UnknownIssuer => true,
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => self_signed,
        _ => false,
    }
}

/// `DnsName("shop.example")` (how webpki lists a certificate's names) →
/// `shop.example`; `None` for kinds of names a person would not recognize.
fn presented_name(text: &str) -> Option<String> {
    let Some((kind, rest)) = text.split_once('(') else {
        return Some(text.to_owned());
    };
    let inner = rest.strip_suffix(')')?.trim_matches('"');
    matches!(kind, "DnsName" | "IpAddress" | "UniformResourceIdentifier").then(|| inner.to_owned())
}

fn unix(at: UnixTime) -> Timestamp {
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

    fn summary(self_signed: bool, issuer: Option<&str>) -> CertSummary {
        CertSummary {
            not_after: "2026-03-03T00:00:00Z".parse().unwrap(),
            self_signed,
            issuer: issuer.map(str::to_owned),
        }
    }

    #[test]
    fn certificate_problems_are_told_with_their_kind_and_fix() {
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        let outcome = failure(
            "Shop",
            "shop.example",
            &expired,
            Some(&summary(false, None)),
        );
        assert_eq!(outcome.kind, Some(FailureKind::CertificateExpired));
        assert_eq!(
            outcome.explanation,
            "Shop's certificate expired on 3 March 2026: renew it (and check why automatic renewal did not)."
        );
        assert_eq!(
            outcome.certificate_expires,
            Some("2026-03-03T00:00:00Z".parse().unwrap())
        );

        let context = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_772_496_000)),
        });
        let outcome = failure("Shop", "shop.example", &context, None);
        assert!(
            outcome.explanation.contains("expired on 3 March 2026"),
            "{}",
            outcome.explanation
        );

        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let outcome = failure(
            "Shop",
            "shop.example",
            &untrusted,
            Some(&summary(true, None)),
        );
        assert_eq!(outcome.kind, Some(FailureKind::CertificateUntrusted));
        assert!(
            outcome
                .explanation
                .starts_with("Shop's certificate is self-signed"),
            "{}",
            outcome.explanation
        );
        let outcome = failure(
            "Shop",
            "shop.example",
            &untrusted,
            Some(&summary(false, Some("Corp CA"))),
        );
        assert!(
            outcome
                .explanation
                .contains("signed by \"Corp CA\", an authority"),
            "{}",
            outcome.explanation
        );

        let wrong = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let outcome = failure("Shop", "localhost", &wrong, None);
        assert_eq!(outcome.kind, Some(FailureKind::CertificateWrongHost));
        assert!(
            outcome.explanation.contains("is not valid for localhost"),
            "{}",
            outcome.explanation
        );

        let bad_signature = rustls::Error::InvalidCertificate(CertificateError::BadSignature);
        let outcome = failure("Shop", "h", &bad_signature, Some(&summary(true, None)));
        assert_eq!(outcome.kind, Some(FailureKind::CertificateUntrusted));
        let outcome = failure("Shop", "h", &bad_signature, Some(&summary(false, None)));
        assert_eq!(outcome.kind, Some(FailureKind::CertificateInvalid));

        let revoked = rustls::Error::InvalidCertificate(CertificateError::Revoked);
        assert_eq!(
            failure("Shop", "h", &revoked, None).kind,
            Some(FailureKind::CertificateInvalid)
        );
        let early = rustls::Error::InvalidCertificate(CertificateError::NotValidYet);
        let outcome = failure("Shop", "h", &early, None);
        assert_eq!(outcome.kind, Some(FailureKind::CertificateInvalid));
        assert!(
            outcome.explanation.contains("check the clocks"),
            "{}",
            outcome.explanation
        );

        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let outcome = failure("Shop", "h", &alert, None);
        assert_eq!(outcome.kind, Some(FailureKind::TlsError));
        assert!(
            outcome
                .explanation
                .starts_with("Shop's server refused the secure connection"),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn presented_names_lose_their_debug_wrapping() {
        assert_eq!(
            presented_name("DnsName(\"shop.example\")").as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            presented_name("IpAddress(10.0.0.1)").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            presented_name("shop.example").as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            presented_name("DirectoryName"),
            Some("DirectoryName".to_owned())
        );
        assert_eq!(presented_name("Unsupported(0x01)"), None);
    }

    #[test]
    fn the_expiry_warning_starts_within_the_configured_period() {
        let cert = summary(false, None);
        let warning = Duration::from_secs(14 * 86_400);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            expiry_warning("Shop", &cert, at("2026-02-10T00:00:00Z"), warning),
            None
        );
        let outcome = expiry_warning("Shop", &cert, at("2026-02-26T12:00:00Z"), warning).unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::CertificateExpiring));
        assert_eq!(
            outcome.explanation,
            "Shop's certificate expires on 3 March 2026, in 4 days: renew it soon (or check that automatic renewal works)."
        );
        let outcome = expiry_warning("Shop", &cert, at("2026-03-02T23:00:00Z"), warning).unwrap();
        assert!(
            outcome.explanation.contains(", today:"),
            "{}",
            outcome.explanation
        );
        assert_eq!(
            expiry_warning("Shop", &cert, at("2026-03-04T00:00:00Z"), warning),
            None
        );
    }
}
