"""The local web services of the benchmarks: answers every GET with 200 "ok",
quietly, on 127.0.0.1:PORT, until killed. Used by scripts/bench-checks.sh,
scripts/report-memory.sh and scripts/hot-code.sh.

    python3 scripts/ok-server.py PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, *args):
        pass


Server(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
