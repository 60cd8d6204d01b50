"""A local OTLP/HTTP receiver for the resolve benchmark: accepts every export
(`POST /v1/traces`), counts the bytes and answers an empty
ExportTraceServiceResponse. Usage: python3 otlp_sink.py PORT"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    received = 0

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        Sink.received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
