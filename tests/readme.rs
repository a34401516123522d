//! The README followed as a new user follows it, on the real binary: its own
//! blocks are read from README.md and used as written, changed only where
//! their comments say to, so a README that drifts from the program fails
//! here instead of on a user's first try.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "support/binary.rs"]
mod binary;
#[path = "support/smtp.rs"]
mod smtp;

use binary::{Keepwatch, closed_port};
use smtp::{SmtpOptions, SmtpServer};

const README: &str = include_str!("../README.md");

/// The `toml` blocks of the README section that starts with `heading`.
fn blocks(heading: &str) -> Vec<String> {
    let section = README
        .split(&format!("\n## {heading}"))
        .nth(1)
        .unwrap_or_else(|| panic!("the README has no section {heading:?}"));
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .map(str::to_owned)
        .collect()
}

/// `text` with the value of every `key = …` line replaced by `value`
/// (comments after it too); fails if no line sets `key`.
fn set(text: &str, key: &str, value: &str) -> String {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.split_once('=') {
            Some((k, _)) if k.trim() == key => {
                found = true;
                format!("{key} = {value}")
            }
            _ => line.to_owned(),
        })
        .collect();
    assert!(
        found,
        "the README's block has no `{key}` line any more:\n{text}"
    );
    lines.join("\n") + "\n"
}

/// `text` without its `key = …` lines; fails if there are none.
fn without(text: &str, key: &str) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| line.split_once('=').is_none_or(|(k, _)| k.trim() != key))
        .collect();
    assert!(
        kept.len() < text.lines().count(),
        "the README's block has no `{key}` line any more:\n{text}"
    );
    kept.join("\n") + "\n"
}

/// The settings file after section 6's first block: its `business_hours`
/// and `off_hours` lines replace those `init` wrote.
fn with_steps(written: &str, steps: &str) -> String {
    let key = |line: &str| line.split_once('=').map(|(k, _)| k.trim().to_owned());
    let mut replaced = 0;
    let lines: Vec<&str> = written
        .lines()
        .map(|line| {
            match steps
                .lines()
                .find(|new| key(new).is_some() && key(new) == key(line))
            {
                Some(new) => {
                    replaced += 1;
                    new
                }
                None => line,
            }
        })
        .collect();
    assert_eq!(
        replaced, 2,
        "the two [alerting] lines of the README:\n{steps}"
    );
    lines.join("\n") + "\n"
}

#[test]
fn a_new_user_gets_alerts_by_email_from_a_local_server_without_login_on_the_first_try() {
    let Some(server) = SmtpServer::start(SmtpOptions::plain()) else {
        return;
    };
    let kw = Keepwatch::new();
    // Step 3: `init --defaults` writes the settings file in the user folder.
    let init = kw.run(&["init", "--defaults"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let file = kw.home().join(".config/keepwatch/keepwatch.toml");
    let written = std::fs::read_to_string(&file).expect("the file init wrote");

    // Step 4: the example services, with addresses of this computer: the
    // shop's is closed (it is down), the mail server's is the test server.
    let services = blocks("4. Watch your services");
    let services = services.first().expect("section 4's example services");
    let services = set(
        services,
        "url",
        &format!("\"http://127.0.0.1:{}/\"", closed_port()),
    );
    let services = set(&services, "host", "\"127.0.0.1\"");
    let services = set(&services, "port", &server.port().to_string());

    // Step 6: the two [alerting] lines, and the channels at the end of the
    // file, set for a server on this computer without a login as the block's
    // comments and the paragraph after it say.
    let alerting = blocks("6. Get told when something breaks");
    let [steps, channels, ..] = alerting.as_slice() else {
        panic!("section 6 lost its steps or its channels: {alerting:?}");
    };
    let channels = set(channels, "server", "\"127.0.0.1\"");
    let channels = set(&channels, "port", &server.port().to_string());
    let channels = set(&channels, "security", "\"plain\"");
    let channels = without(&without(&channels, "username"), "password");
    // Not the README's: the API's fixed port is shared by tests (and other
    // keepwatches) running side by side, so this one takes any free port.
    let written = written.replace("listen = \"127.0.0.1:8970\"", "listen = \"127.0.0.1:0\"");
    let edited = with_steps(&written, steps) + &services + &channels;
    std::fs::write(&file, edited).expect("write the settings");

    // "Then check that every channel works".
    let test = kw.run(&["alert", "test"]);
    let said =
        String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success(), "{said}");
    let tests = server.wait_for(2, Duration::from_secs(30));
    let to: Vec<&str> = tests
        .iter()
        .flat_map(|m| m.rcpt_tos.iter().map(String::as_str))
        .collect();
    assert!(
        to.contains(&"admin@example.com") && to.contains(&"4917012345678@sms.example.net"),
        "{to:?}"
    );

    // The shop is critical: in opening hours the alert goes by email, outside
    // them by text message through the same server. Either way it arrives.
    let mut running = kw.start();
    running.wait_for("the shop's alert by mail", |_| server.count() > 2);
    let alert = server.messages().into_iter().nth(2).expect("the alert");
    let subject = alert.subject.clone().unwrap_or_default();
    let text = alert.text.clone().unwrap_or_default();
    assert!(
        subject.contains("Web shop") || text.contains("Web shop is down"),
        "{alert:#?}"
    );
    assert!(!running.log().contains("ERROR"), "{}", running.log());
    running.stop();
}

#[test]
fn the_alerting_lines_of_the_readme_replace_those_init_writes() {
    let kw = Keepwatch::new();
    let init = kw.run(&["init", "--defaults", "--config", "keepwatch.toml"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let alerting = blocks("6. Get told when something breaks");
    let [steps, channels, ..] = alerting.as_slice() else {
        panic!("section 6 lost its steps or its channels: {alerting:?}");
    };
    let written = std::fs::read_to_string(kw.config_path()).expect("the written file");
    let edited = with_steps(&written, steps) + channels;
    assert!(edited.contains("notify = [\"admin-sms\"] }]"), "{edited}");
    std::fs::write(kw.config_path(), edited).expect("write");
    // A valid file: `alert test` gets as far as trying each channel.
    let out = kw.run(&["alert", "test", "log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unknown = kw.run(&["alert", "test", "pager"]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("The channels are: admin-email, admin-sms, log"),
        "{err}"
    );
}

/// A certificate for `name` signed by itself and not an authority, as the
/// README's `openssl` line makes it: its file and its key's, in `dir`.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).expect("a certificate");
    let (cert_file, key_file) = (dir.join("hub.crt"), dir.join("hub.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
    (cert_file, key_file)
}

/// The text block of the README section that starts with `heading`.
fn shown(heading: &str) -> String {
    let section = README
        .split(&format!("\n## {heading}"))
        .nth(1)
        .unwrap_or_else(|| panic!("the README has no section {heading:?}"));
    section
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("section {heading:?} shows no output"))
        .to_owned()
}

#[test]
fn two_commands_add_a_server_as_watching_several_servers_says() {
    const SECTION: &str = "9. Watching several servers";
    let hub = Keepwatch::named("hub");
    // Section 9's [api] block, with a free port (tests run side by side)
    // and a self-signed certificate for the name in the URL.
    let port = closed_port();
    let (cert, key) = self_signed(hub.home(), "localhost");
    let api = blocks(SECTION);
    let api = api.first().expect("section 9's [api] block");
    let api = set(api, "listen", &format!("\"127.0.0.1:{port}\""));
    let api = set(&api, "cert_file", &format!("\"{}\"", cert.display()));
    let api = set(&api, "key_file", &format!("\"{}\"", key.display()));
    hub.config(&api);
    let mut running_hub = hub.start();
    running_hub.wait_for("the hub's API", |r| r.log().contains("the API answers on"));

    // On the hub: `keepwatch agent add web2`, with --url as the README says
    // for a hub the others know by another name. It prints what the README
    // shows, with its own address and token.
    let url = format!("https://localhost:{port}");
    let added = hub.run(&["agent", "add", "web2", "--url", &url]);
    let said = String::from_utf8_lossy(&added.stdout).into_owned();
    assert!(added.status.success(), "{said}");
    let line = said
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("keepwatch init --hub"))
        .unwrap_or_else(|| panic!("no command to run on web2 in:\n{said}"));
    let token = line.rsplit(' ').next().unwrap_or_default();
    let expected = shown(SECTION)
        .replace("https://hub:8970", &url)
        .replace("kw_agent_…", token);
    assert!(
        said.starts_with(&expected),
        "the README shows:\n{expected}\nkeepwatch prints:\n{said}"
    );

    // On web2: the printed line as it is, then the certificate named in
    // [hub] as "Good to know" says.
    let web2 = Keepwatch::named("web2");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let init = web2.run(&args);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let file = web2.home().join(".config/keepwatch/keepwatch.toml");
    let written = std::fs::read_to_string(&file).expect("the file init wrote");
    let edited = written
        .replacen(
            "ca_file = \"\"",
            &format!("ca_file = \"{}\"", cert.display()),
            1,
        )
        // Not the README's: the API's fixed port is shared by tests.
        .replace("listen = \"127.0.0.1:8970\"", "listen = \"127.0.0.1:0\"");
    std::fs::write(&file, edited).expect("write web2's settings");
    let running_web2 = web2.start();
    running_hub.wait_for("web2 to report to the hub", |_| {
        hub.status().contains("web2 (agent): reporting")
    });
    let status = hub.status();
    assert!(status.contains("\nweb2, as measured"), "{status}");
    running_web2.stop();
    running_hub.stop();
}
