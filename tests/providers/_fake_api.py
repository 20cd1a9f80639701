"""A provider REST API stand-in: a real HTTP server on 127.0.0.1 (ephemeral port) that answers with the
recorded responses it is given, in order, and records every request it receives. Every provider test that
needs a provider's API uses this one server (``fake_api`` / ``fake_tls_api`` fixtures, or ``FakeProviderAPI``
directly)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from tests.local_server import LocalHTTPServer


@dataclass
class Received:
    method: str
    path: str  # path + query string, as sent
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the answer until the server stops (the client times out first)


class _QuietServer(LocalHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up on a held answer closes the socket: expected, not a failure


class FakeProviderAPI:
    def __init__(self, tls_files: tuple[str, str] | None = None) -> None:
        """``tls_files`` = (certificate, key) PEM paths: serve HTTPS (for SDKs that only speak https)."""
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()  # still to give, in order
        self._release = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.scheme = "http"
        self.ca_file = tls_files[0] if tls_files else ""
        if tls_files:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_files)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def answer(
        self,
        status: int,
        body: bytes | str | dict | list = b"",
        headers: dict[str, str] | None = None,
        hang: bool = False,
    ) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"content-type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.answers.append(Answer(status, body, dict(headers or {}), hang))

    def answer_recorded(self, fixture: dict) -> None:
        """Queue a recorded response fixture ({status, headers, body})."""
        self.answer(fixture["status"], json.dumps(fixture["body"]), fixture.get("headers") or {})

    def trusting_client(self):
        """An httpx client that trusts this server's self-signed certificate."""
        import httpx

        return httpx.Client(verify=ssl.create_default_context(cafile=self.ca_file))

    def start(self) -> FakeProviderAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.received.append(
                    Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                answer = fake.answers.popleft() if fake.answers else Answer(599, b"no answer scripted")
                if answer.hang:
                    fake._release.wait(60)
                    self.close_connection = True
                    return
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format, *args):  # keep test output quiet
                pass

        return Handler


@pytest.fixture
def fake_api():
    api = FakeProviderAPI().start()
    yield api
    api.stop()


@pytest.fixture
def http_client():
    import httpx

    with httpx.Client() as client:
        yield client


def self_signed_certificate(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1, written as PEM files; returns (certificate path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-api.pem", directory / "fake-api.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def fake_tls_api(tmp_path, monkeypatch):
    """The fake API over HTTPS, trusted by ``requests``-based SDKs through REQUESTS_CA_BUNDLE."""
    tls_files = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files[0])
    api = FakeProviderAPI(tls_files).start()
    yield api
    api.stop()
