"""A real HTTP server on 127.0.0.1 playing the ERP for the webhook adapter: it verifies each signature
on its own side and answers from a script, recording every delivery."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orderbridge.erp.webhook import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature


@dataclass
class Delivery:
    event: str
    delivery: str
    body: dict[str, Any]
    signature_ok: bool


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    """Sent as it is instead of `body` (an error page, JSON nested too deep…)."""


@dataclass
class FakeErp:
    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    decide: Callable[[Delivery], Reply] | None = None
    url: str = ""

    def reply_for(self, delivery: Delivery) -> Reply:
        if not delivery.signature_ok:
            return Reply(401, {"reason": "bad signature"})
        if self.script:
            return self.script.pop(0)
        if self.decide is not None:
            return self.decide(delivery)
        return Reply(200, {"erpReference": f"ERP-{len(self.deliveries)}"})


def _handler(erp: FakeErp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delivery = Delivery(
                event=self.headers.get(EVENT_HEADER, ""),
                delivery=self.headers.get(DELIVERY_HEADER, ""),
                body=json.loads(raw or b"{}"),
                signature_ok=verify_signature(erp.secret, raw, self.headers.get(SIGNATURE_HEADER)),
            )
            erp.deliveries.append(delivery)
            reply = erp.reply_for(delivery)
            if reply.delay_s:
                time.sleep(reply.delay_s)  # plays a slow ERP; the client's timeout is what is tested
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
            if reply.raw is not None:
                payload = reply.raw
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_erp_server(secret: str, tls: ssl.SSLContext | None = None) -> Iterator[FakeErp]:
    """The fake ERP on a free port; over HTTPS with `tls` (a server-side context)."""
    erp = FakeErp(secret=secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(erp))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    erp.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/orderbridge/events"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield erp
    finally:
        server.shutdown()
        server.server_close()
