//! What `init` finds worth watching on this computer: the usual ports of web
//! servers, databases, a cache, mail and SSH. A port that accepts a
//! connection is then probed with the very check keepwatch would run, so
//! what `init` offers is known to work, or says why it does not (a database
//! that wants a password, a certificate made for another name).
//!
//! Each find is written as the `[[service]]` block it would be in the config
//! file; the block is parsed back into a [`ServiceSpec`] before it is
//! checked, so the text written is the text that was tried.

use std::sync::Arc;
use std::time::Duration;

use crate::checks::{Checker, ServiceSpec};

/// How long a port may take to accept a connection before it counts as closed.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);

/// How long the check of a found service may take.
const CHECK_TIMEOUT: &str = "5s";

/// How a kind of service is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A web page: `https` when `tls`.
    Http {
        /// Over TLS.
        tls: bool,
    },
    /// A PostgreSQL login.
    Postgres,
    /// A MySQL or MariaDB login.
    Mysql,
    /// A Redis `PING`.
    Redis,
    /// A connection whose greeting contains `banner`.
    Tcp {
        /// Text the first line must contain.
        banner: &'static str,
    },
}

/// A kind of service looked for on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The name it gets in the config.
    pub name: &'static str,
    /// The port it usually listens on.
    pub port: u16,
    /// How it is checked.
    pub probe: Probe,
}

/// What `init` looks for, in the order it offers them.
pub const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "Website",
        port: 80,
        probe: Probe::Http { tls: false },
    },
    Candidate {
        name: "Website (HTTPS)",
        port: 443,
        probe: Probe::Http { tls: true },
    },
    Candidate {
        name: "Web application on port 8080",
        port: 8080,
        probe: Probe::Http { tls: false },
    },
    Candidate {
        name: "PostgreSQL",
        port: 5432,
        probe: Probe::Postgres,
    },
    Candidate {
        name: "MySQL",
        port: 3306,
        probe: Probe::Mysql,
    },
    Candidate {
        name: "Redis",
        port: 6379,
        probe: Probe::Redis,
    },
    Candidate {
        name: "Mail server",
        port: 25,
        probe: Probe::Tcp { banner: "220" },
    },
    Candidate {
        name: "Mail submission",
        port: 587,
        probe: Probe::Tcp { banner: "220" },
    },
    Candidate {
        name: "SSH",
        port: 22,
        probe: Probe::Tcp { banner: "SSH-" },
    },
];

impl Candidate {
    /// The lines of its `[[service]]` block, for a server at `host`.
    pub fn block(&self, host: &str) -> String {
        let mut lines = vec![
            "[[service]]".to_owned(),
            format!("name = \"{}\"", self.name),
        ];
        let at = [
            format!("host = \"{host}\""),
            format!("port = {}", self.port),
        ];
        match self.probe {
            Probe::Http { tls } => {
                let (scheme, default_port) = if tls { ("https", 443) } else { ("http", 80) };
                let port = if self.port == default_port {
                    String::new()
                } else {
                    format!(":{}", self.port)
                };
                lines.push("type = \"http\"".to_owned());
                lines.push(format!("url = \"{scheme}://{host}{port}/\""));
            }
            Probe::Postgres => {
                lines.push("type = \"postgres\"".to_owned());
                lines.extend(at);
                lines.push("user = \"postgres\"".to_owned());
            }
            Probe::Mysql => {
                lines.push("type = \"mysql\"".to_owned());
                lines.extend(at);
                lines.push("user = \"root\"".to_owned());
            }
            Probe::Redis => {
                lines.push("type = \"redis\"".to_owned());
                lines.extend(at);
            }
            Probe::Tcp { banner } => {
                lines.push("type = \"tcp\"".to_owned());
                lines.extend(at);
                lines.push(format!("expect_banner = \"{banner}\""));
            }
        }
        lines.join("\n") + "\n"
    }
}

/// A service found listening, and what its check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The name it gets.
    pub name: String,
    /// Where it listens, as `host:port`.
    pub address: String,
    /// Its `[[service]]` block.
    pub block: String,
    /// The check passed.
    pub works: bool,
    /// What the check said, in one sentence.
    pub said: String,
}

/// Looks on `host` for each candidate, all at once, and checks those that
/// accept a connection; in the candidates' order.
pub async fn find(candidates: &[Candidate], host: &str, checker: Arc<Checker>) -> Vec<Found> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, candidate) in candidates.iter().copied().enumerate() {
        let (host, checker) = (host.to_owned(), checker.clone());
        tasks.spawn(async move { (index, look(candidate, &host, &checker).await) });
    }
    let mut found: Vec<(usize, Found)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, Some(one))) = done {
            found.push((index, one));
        }
    }
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, one)| one).collect()
}

async fn look(candidate: Candidate, host: &str, checker: &Checker) -> Option<Found> {
    let connect = tokio::net::TcpStream::connect((host, candidate.port));
    if !matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, connect).await,
        Ok(Ok(_))
    ) {
        return None;
    }
    let block = candidate.block(host);
    // Every candidate's block reads back (a test makes sure).
    let outcome = checker.run(&spec(&block).ok()?).await;
    Some(Found {
        name: candidate.name.to_owned(),
        address: format!("{host}:{}", candidate.port),
        block,
        works: outcome.is_up(),
        said: outcome.explanation,
    })
}

/// The service a block describes, with a short timeout for the first try.
fn spec(block: &str) -> Result<ServiceSpec, String> {
    #[derive(serde::Deserialize)]
    struct Services {
        service: Vec<ServiceSpec>,
    }
    let text = format!("{block}timeout = \"{CHECK_TIMEOUT}\"\n");
    let mut parsed: Services = toml::from_str(&text).map_err(|err| err.message().to_owned())?;
    parsed
        .service
        .pop()
        .ok_or_else(|| "no [[service]] in it".to_owned())
}

/// The text `init` writes for what it found: blocks to watch as they are,
/// the others commented out, each with what its check said.
pub fn config_text(found: &[(Found, bool)]) -> String {
    if found.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("\n# Services `keepwatch init` found on this computer, each checked once.\n");
    for (one, watch) in found {
        out.push('\n');
        let said = crate::printable::line(&one.said);
        let (name, address) = (&one.name, &one.address);
        if *watch {
            out.push_str(&format!("# {name} on {address}: {said}\n"));
            out.push_str(&one.block);
            continue;
        }
        out.push_str(&if one.works {
            format!("# {name} on {address} is not watched (remove the # in front of the lines below to watch it): {said}\n")
        } else {
            format!("# {name} listens on {address}, but its check did not pass: {said}\n# To watch it, fix its settings below and remove the # in front of them.\n")
        });
        for line in one.block.lines() {
            out.push_str(&format!("# {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::CheckSpec;
    use crate::clock::SystemClock;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn checker() -> Arc<Checker> {
        Arc::new(Checker::new(Arc::new(SystemClock)))
    }

    #[test]
    fn every_candidate_reads_back_as_the_check_it_names() {
        for candidate in CANDIDATES {
            let spec = spec(&candidate.block("127.0.0.1")).unwrap();
            assert_eq!(spec.common.name, candidate.name);
            assert_eq!(spec.common.timeout.std(), Duration::from_secs(5));
            let type_name = spec.check.type_name();
            let expected = match candidate.probe {
                Probe::Http { .. } => "http",
                Probe::Postgres => "postgres",
                Probe::Mysql => "mysql",
                Probe::Redis => "redis",
                Probe::Tcp { .. } => "tcp",
            };
            assert_eq!(type_name, expected, "{}", candidate.name);
        }
        let web = |port, tls| Candidate {
            name: "w",
            port,
            probe: Probe::Http { tls },
        };
        assert!(web(80, false).block("h").contains("url = \"http://h/\""));
        assert!(web(443, true).block("h").contains("url = \"https://h/\""));
        assert!(
            web(8443, true)
                .block("h")
                .contains("url = \"https://h:8443/\"")
        );
        match spec(&CANDIDATES[8].block("h")).unwrap().check {
            CheckSpec::Tcp(tcp) => assert_eq!(tcp.expect_banner.as_deref(), Some("SSH-")),
            other => panic!("{other:?}"),
        }
        assert!(spec("").unwrap_err().contains("service"));
    }

    /// A web server on loopback that answers every request with `status`.
    async fn web_server(status: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = stream.read(&mut buf).await;
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_listening_port_is_checked_for_real_and_a_closed_one_is_not_offered() {
        let good = web_server("200 OK").await;
        let broken = web_server("500 Internal Server Error").await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let candidates = [
            Candidate {
                name: "Shop",
                port: broken,
                probe: Probe::Http { tls: false },
            },
            Candidate {
                name: "Nothing",
                port: closed,
                probe: Probe::Redis,
            },
            Candidate {
                name: "Intranet",
                port: good,
                probe: Probe::Http { tls: false },
            },
        ];
        let found = find(&candidates, "127.0.0.1", checker()).await;
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Shop", "Intranet"]);
        assert!(!found[0].works);
        assert!(found[0].said.contains("500"), "{}", found[0].said);
        assert!(found[1].works, "{}", found[1].said);
        assert_eq!(found[1].address, format!("127.0.0.1:{good}"));
        assert!(
            found[1]
                .block
                .contains(&format!("url = \"http://127.0.0.1:{good}/\""))
        );
    }

    fn found(name: &str, works: bool) -> Found {
        Found {
            name: name.to_owned(),
            address: "127.0.0.1:6379".to_owned(),
            block: Candidate {
                name: "Redis",
                port: 6379,
                probe: Probe::Redis,
            }
            .block("127.0.0.1")
            .replace("\"Redis\"", &format!("\"{name}\"")),
            works,
            said: if works {
                "Redis is up.".to_owned()
            } else {
                "Redis refused:\nNOAUTH".to_owned()
            },
        }
    }

    #[test]
    fn what_is_watched_is_written_as_is_and_the_rest_commented_out_with_why() {
        assert_eq!(config_text(&[]), "");
        let text = config_text(&[
            (found("Cache", true), true),
            (found("Sessions", true), false),
            (found("Queue", false), false),
        ]);
        assert!(
            text.contains(
                "# Cache on 127.0.0.1:6379: Redis is up.\n[[service]]\nname = \"Cache\"\n"
            ),
            "{text}"
        );
        assert!(text.contains("# Sessions on 127.0.0.1:6379 is not watched (remove the # in front of the lines below to watch it): Redis is up.\n# [[service]]\n# name = \"Sessions\"\n"), "{text}");
        assert!(text.contains("# Queue listens on 127.0.0.1:6379, but its check did not pass: Redis refused:\\nNOAUTH\n"), "{text}");
        assert!(text.contains("# name = \"Queue\"\n"), "{text}");
        let config: crate::config::Config = crate::config::parse(
            std::path::Path::new("keepwatch.toml"),
            &crate::config::commented_with(&crate::config::Config::default(), &text),
        )
        .unwrap();
        let names: Vec<&str> = config
            .services
            .iter()
            .map(|s| s.common.name.as_str())
            .collect();
        assert_eq!(names, ["Cache"]);
    }
}
