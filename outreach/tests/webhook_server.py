"""A real HTTP(S) server on a loopback address that records webhook POSTs (and can fail the first N, or
answer with a redirect), and a self-signed certificate made for it with openssl."""

import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_certificate(folder: Path, *, names: tuple[str, ...] = ("localhost",)) -> Path:
    """A self-signed certificate (and its key) for `names` and 127.0.0.1, in one PEM file (the
    certificate alone, to trust, is listener.crt beside it)."""
    pem = folder / "listener.pem"
    san = ",".join([*(f"DNS:{n}" for n in names), "IP:127.0.0.1"])
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={names[0]}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(folder / "listener.key"),
            "-out",
            str(folder / "listener.crt"),
        ],
        check=True,
        capture_output=True,
    )
    pem.write_bytes((folder / "listener.crt").read_bytes() + (folder / "listener.key").read_bytes())
    return pem


class WebhookReceiver:
    def __init__(
        self,
        *,
        fail_first: int = 0,
        fail_status: int = 500,
        certificate: Path | None = None,
        host: str = "localhost",
        redirect_to: str | None = None,
        bind: str = "127.0.0.1",
        port: int = 0,
        answer_bytes: int = 0,
    ):
        self.received: list[dict] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.on_request = None  # called with the request's headers while it is being answered
        self.host = host
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append({"headers": headers, "body": body, "path": self.path})
                if receiver.on_request is not None:
                    receiver.on_request(headers)
                if redirect_to:
                    self.send_response(307)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                failing = len(receiver.received) <= receiver.fail_first
                if answer_bytes:
                    self.send_response(200)
                    self.send_header("Content-Length", str(answer_bytes))
                    self.end_headers()
                    self.wfile.write(b"x" * answer_bytes)
                    return
                self.send_response(receiver.fail_status if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((bind, port), Handler)
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/hooks/dms"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
