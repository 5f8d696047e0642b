"""A small threaded HTTP server base for the providers' local stand-ins."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ProviderServer:
    """Subclasses implement `handle(method, path, query, headers, body) -> (status, headers,
    body bytes)`. Runs on 127.0.0.1 on a spare port in a thread."""

    def __init__(self):
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = server.handle(self.command, self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.lock = threading.Lock()

    def handle(self, method, path, headers, body):
        raise NotImplementedError

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
