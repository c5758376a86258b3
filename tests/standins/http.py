"""A small threaded HTTP server on 127.0.0.1 for stand-ins, with switchable fault injection.

    srv = StandinServer()                       # port 0: the OS picks a free port
    @srv.route("GET", r"/v1/items/(?P<id>\\w+)")
    def get_item(req): return Response(200, {"id": req.params["id"]})
    srv.start(); ... srv.url ...; srv.stop()

Faults: ``srv.faults.rate = 0.3`` (share of requests failing), ``srv.faults.kinds = ["503", "429",
"timeout", "drop"]``, ``srv.faults.queue.append("429")`` (fail the next request exactly so),
``srv.faults.retry_after = "1"``. Every request is recorded in ``srv.requests``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[0] if v else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Faults:
    rate: float = 0.0
    kinds: list[str] = field(default_factory=lambda: ["503"])
    queue: list[str] = field(default_factory=list)
    retry_after: str | None = "0"
    timeout_s: float = 3.0
    seed: int | None = None
    injected: int = 0
    # Only inject into requests whose path (and method) match (None: all)
    path_filter: str | None = None
    method_filter: str | None = None

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self, path: str, method: str | None = None) -> str | None:
        if self.path_filter and not re.search(self.path_filter, path):
            return None
        if self.method_filter and method != self.method_filter:
            return None
        with self._lock:
            if self.queue:
                self.injected += 1
                return self.queue.pop(0)
            if self.rate and self._rng.random() < self.rate:
                self.injected += 1
                return self._rng.choice(self.kinds)
        return None


class StandinServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.routes: list[tuple[str, re.Pattern, Callable[[Request], Response]]] = []
        self.requests: list[Request] = []
        self.faults = Faults()
        self.fault_response: Callable[[str], Response] | None = None  # provider-shaped error bodies
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed-ACK stalls

            def log_message(self, *a):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(req)
                fault = server.faults.pick(parts.path, self.command)
                if fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                if fault == "timeout":
                    time.sleep(server.faults.timeout_s)
                    self.close_connection = True
                    return
                if fault is not None:
                    resp = server._fault(fault)
                else:
                    resp = server.dispatch(req)
                if resp.delay:
                    time.sleep(resp.delay)
                self._send(resp)

            def _send(self, resp: Response):
                body = resp.body
                headers = dict(resp.headers)
                if isinstance(body, dict | list):
                    data = json.dumps(body).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(body, str):
                    data = body.encode()
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                elif body is None:
                    data = b""
                else:
                    data = body
                self.send_response(resp.status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_REPORT = do_PROPFIND = _handle

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- routing ---------------------------------------------------------------------------------
    def route(self, method: str, pattern: str):
        def deco(fn):
            self.routes.append((method.upper(), re.compile(f"^{pattern}$"), fn))
            return fn

        return deco

    def dispatch(self, req: Request) -> Response:
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                try:
                    return fn(req)
                except Exception as exc:  # noqa: BLE001 - a stand-in bug shows as a 500 with the reason
                    return Response(500, {"error": f"stand-in error: {type(exc).__name__}: {exc}"})
        return Response(404, {"error": "not found", "path": req.path})

    def _fault(self, kind: str) -> Response:
        if self.fault_response is not None:
            return self.fault_response(kind)
        status = int(kind) if kind.isdigit() else 503
        headers = {"Retry-After": self.faults.retry_after} if status in (429, 503) and self.faults.retry_after else {}
        return Response(status, {"error": {"code": status, "message": "injected fault"}}, headers)

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandinServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if (method is None or r.method == method)
                       and (path_regex is None or re.search(path_regex, r.path)))

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()
