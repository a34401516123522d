//! Certificate problems of a check told in plain words: what the server
//! presented, why it was refused, and the likely fix.

use jiff::Timestamp;
use rustls::CertificateError;

use super::CheckOutcome;
use super::wording::{date, days, possessive, quote};
use std::time::Duration;

use crate::tls::{CertSummary, unix};
use crate::vocabulary::FailureKind;

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

#[cfg(test)]
mod tests {
    use rustls::pki_types::UnixTime;

    use super::*;

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
