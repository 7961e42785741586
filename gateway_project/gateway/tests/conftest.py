import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class EchoUpstream(BaseHTTPRequestHandler):
    """A stand-in service: answers with what it received, plus headers a test asks for."""

    protocol_version = "HTTP/1.1"
    seen: list[dict]
    delay = 0.0
    extra_headers: dict[str, str]

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": body.decode(),
        }
        self.server.seen.append(record)
        if self.server.drop > 0:  # hang up without an answer, as a restarting worker does
            self.server.drop -= 1
            self.close_connection = True
            return
        time.sleep(self.server.delay)
        payload = json.dumps(record).encode()
        self.send_response(self.server.status or (201 if self.command == "POST" else 200))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in self.server.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the GET's headers and no body
            self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def upstreams(settings):
    """Two echo servers standing in for orders and payments, wired into the gateway."""
    servers = {}
    for name in ("orders", "payments"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), EchoUpstream)
        server.seen, server.delay, server.extra_headers, server.status = [], 0.0, {}, None
        server.drop = 0
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    settings.UPSTREAMS = {
        name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in servers.items()
    }
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()
