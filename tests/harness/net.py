"""Addresses and servers on 127.0.0.1 for the tests: free ports, a body that never completes,
the fake portal over TLS."""

from __future__ import annotations

import random
import socket
import ssl
import time
from pathlib import Path
from typing import Iterator, Tuple

import fake_portal
from werkzeug import Response


def free_port() -> int:
    """A free port on 127.0.0.1 in 20000-32767: nothing listens on it, any program may take it
    (Zabbix's ListenPort must be 1024-32767), and it is never a well-known one."""
    while True:
        port = random.randint(20000, 32767)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def drip(request):
    """Headers at once, then one byte a second: each read succeeds, the whole never arrives."""
    def body():
        for _ in range(8):
            yield b" "
            time.sleep(1)

    return Response(body(), headers={"Content-Length": "100"}, content_type="application/json")


def tls_portal_server(cert: Path, key: Path) -> Iterator[Tuple[object, Path]]:
    """The fake portal over HTTPS with this certificate, answering 'paid'; stopped after."""
    from pytest_httpserver import HTTPServer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    fake_portal.serve(server, "paid")
    try:
        yield server, cert
    finally:
        server.stop()
