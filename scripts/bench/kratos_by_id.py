#!/usr/bin/env python3
"""A loopback stand-in for Kratos's `GET /admin/identities/{id}` used by the
resolve benchmark: any id is an active identity with a verified email derived
from the id, shaped like Kratos's `identity` schema. Optional fixed delay."""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 4434
DELAY = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's
    # algorithm and delayed ACKs add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/health/"):
            return self.reply(200, {"status": "ok"})
        prefix = "/admin/identities/"
        if not self.path.startswith(prefix):
            return self.reply(404, {"error": {"code": 404, "message": "not found"}})
        identity_id = self.path[len(prefix):].split("?")[0]
        email = f"{identity_id}@bench.example.com"
        if DELAY:
            time.sleep(DELAY)
        self.reply(200, {
            "id": identity_id,
            "schema_id": "default",
            "schema_url": "http://127.0.0.1/schemas/default",
            "state": "active",
            "traits": {"email": email, "name": {"first": "Bench", "last": "User"}},
            "verifiable_addresses": [
                {"value": email, "verified": True, "via": "email", "status": "completed"}
            ],
            "credentials": {"password": {"type": "password", "identifiers": [email]}},
        })

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
