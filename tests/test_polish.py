"""Small things a new user meets first: the sync repo found from a subdirectory, a clean
--help, hints for TLS and DNS errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshotsync.errors import ExitCode
from snapshotsync.settings import find_repo
from tests.helpers import Emulator, git, init_repo, run_cli


def test_the_sync_repo_is_found_from_a_subdirectory_like_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "sync"
    run_cli("init", str(repo))
    (repo / "snapshot" / "projects").mkdir(parents=True)
    monkeypatch.chdir(repo / "snapshot" / "projects")
    assert find_repo(Path()) == repo.resolve()
    out = run_cli("validate").stdout
    assert "overlays/prod.yaml: ok" in out

    # Not past the top of the git work tree it is in: a sync repo's parent has none.
    outside = tmp_path / "elsewhere"
    (outside / "sub").mkdir(parents=True)
    (outside / ".git").mkdir()
    monkeypatch.chdir(outside / "sub")
    assert find_repo(Path()) == Path()
    assert "snapshotsync.yaml not found" in run_cli("validate", expect=ExitCode.ERROR).stderr


@pytest.mark.parametrize(
    "command", ["init", "export", "plan", "push", "drift", "history", "cleanup", "validate"]
)
def test_help_shows_no_type_after_a_flag(command: str) -> None:
    text = run_cli(command, "--help").stdout
    assert "--help" in text and "--verbose" in text
    assert "<bool>" not in text and "<int>" not in text


def _failure(url: str) -> str:
    from snapshotsync.errors import OctopusApiError
    from snapshotsync.octopus.client import OctopusClient, RetryPolicy

    with (
        OctopusClient(url, "API-X", retry=RetryPolicy(attempts=1), timeout=10) as client,
        pytest.raises(OctopusApiError) as raised,
    ):
        client.get("/api")
    return str(raised.value)


def test_a_host_that_does_not_resolve_says_dns() -> None:
    # .invalid never resolves (RFC 2606).
    assert "the host name does not resolve (DNS)" in _failure("http://octopus.example.invalid")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback with a self-signed certificate, and that certificate."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"Application": "Octopus Deploy", "Version": "2024.2.9000"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_certificate_points_to_requests_ca_bundle(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from snapshotsync.octopus.client import OctopusClient

    url, cert = tls_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    message = _failure(url)
    assert "certificate verify failed" in message and "REQUESTS_CA_BUNDLE" in message
    # As the hint says: the CA file in REQUESTS_CA_BUNDLE, and the server is trusted.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with OctopusClient(url, "API-X") as client:
        assert client.get("/api")["Application"] == "Octopus Deploy"


def test_a_plain_http_server_called_with_https_says_tls() -> None:
    # The other way round: TLS spoken to a server without it.
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer() -> None:
        connection, _ = listener.accept()
        connection.recv(1024)
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        connection.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        message = _failure(f"https://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        listener.close()
    assert "TLS handshake failed: is the URL's scheme right" in message


def test_the_export_summary_counts_a_deletion_and_an_addition_not_a_rename(
    tmp_path: Path, source_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    run_cli("export", "--repo", str(repo))
    tenant = source_emulator.by_name("tenants", "Internal")
    gone = source_emulator.session.delete(source_emulator.space_url(f"tenants/{tenant['Id']}"))
    assert gone.ok, gone.text
    twin = {k: v for k, v in tenant.items() if k not in ("Id", "Links", "SpaceId")}
    source_emulator.create("tenants", {**twin, "Name": "Internal Tools"})
    run_cli("export", "--repo", str(repo))
    message = git(repo, "log", "-1", "--format=%B")
    assert "Removed: 0" not in message
    history = run_cli("history", "--repo", str(repo)).stdout.splitlines()[-1]
    added, removed = (int(x) for x in re.findall(r"\+(\d+) ~\d+ -(\d+) files", history)[0])
    assert added >= 1 and removed >= 1, history
