#!/usr/bin/env python3
"""A real SMTP server for keepwatch's email tests (aiosmtpd).

Started by tests/support/smtp.rs. Each message it accepts is written, before
the server answers "250", as one JSON file in --maildir: the envelope, the raw
bytes that crossed SMTP, and the headers and body parts as Python's email
package decodes them (an independent MIME parser checking lettre's output),
and "accepted_at_ns": the wall-clock time (Unix nanoseconds) at which the
whole message had come in, taken before anything else is done with it (used
by benches/alert_latency.rs).

  --security plain|starttls|tls   plain text; STARTTLS offered (and required
                                  before MAIL); or TLS from the first byte
  --cert/--key                    PEM files for starttls and tls
  --user/--password               AUTH PLAIN/LOGIN required with these; other
                                  credentials get "535 5.7.8"
  --port                          0 picks a free port; the port is printed as
                                  "READY <port>" once the server listens, so
                                  a restart can ask for the same one again

Recipients whose local part starts with "refuse" get "550 5.1.1", and with
"defer" get "451 4.3.0", so tests can see how a refusal is classed.

The server exits when its standard input closes (the test process ended,
however it ended), so no server outlives its test.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys
import threading
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Mailbox:
    def __init__(self, maildir):
        self.maildir = maildir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("refuse"):
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        if local.startswith("defer"):
            return "451 4.3.0 <%s>: Mailbox busy, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        accepted_at_ns = time.time_ns()
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "login": login_name(session),
            "raw": raw.decode("utf-8", "replace"),
            "accepted_at_ns": accepted_at_ns,
        }
        record.update(parse(raw))
        self.count += 1
        name = "%020d-%06d-%d" % (time.time_ns(), self.count, os.getpid())
        tmp = os.path.join(self.maildir, "." + name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        # Atomic: a reader sees the whole message or none of it.
        os.rename(tmp, os.path.join(self.maildir, name + ".json"))
        return "250 2.0.0 Message accepted for delivery"


def login_name(session):
    login = getattr(session, "auth_data", None)
    if isinstance(login, LoginPassword):
        return login.login.decode("utf-8", "replace")
    return None


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    def header(name):
        value = msg.get(name)
        return None if value is None else str(value)

    def body(kind):
        part = msg.get_body(preferencelist=(kind,))
        # Line ends as written by the sender, not as SMTP carries them.
        return None if part is None else part.get_content().replace("\r\n", "\n")

    return {
        "from": header("From"),
        "to": header("To"),
        "subject": header("Subject"),
        "message_id": header("Message-ID"),
        "date": header("Date"),
        "auto_submitted": header("Auto-Submitted"),
        "content_type": msg.get_content_type(),
        "parts": [part.get_content_type() for part in msg.walk() if not part.is_multipart()],
        "text": body("plain"),
        "html": body("html"),
    }


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


def watch_stdin(loop, stop):
    # Blocks until the parent closes the pipe or dies.
    try:
        while sys.stdin.buffer.read(1024):
            pass
    except Exception:
        pass
    loop.call_soon_threadsafe(stop.set)


async def main():
    # aiosmtpd warns of AUTH without TLS (meant for implicit TLS here) and of
    # its own deprecations; errors still show.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--security", choices=["plain", "starttls", "tls"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()

    context = None
    if args.security != "plain":
        if not (args.cert and args.key):
            parser.error("--security %s needs --cert and --key" % args.security)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    handler = Mailbox(args.maildir)
    options = dict(hostname="keepwatch-test-smtp", timeout=30)
    if args.user is not None:
        options.update(
            auth_required=True,
            authenticator=authenticator(args.user, args.password or ""),
            # Over STARTTLS, AUTH is offered only after the upgrade, as real
            # servers do; with implicit TLS the connection is encrypted from
            # the start (aiosmtpd does not see that by itself).
            auth_require_tls=(args.security == "starttls"),
        )
    if args.security == "starttls":
        options.update(tls_context=context, require_starttls=True)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options),
        host=args.host,
        port=args.port,
        ssl=context if args.security == "tls" else None,
        reuse_address=True,
    )
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)

    stop = asyncio.Event()
    threading.Thread(target=watch_stdin, args=(loop, stop), daemon=True).start()
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
