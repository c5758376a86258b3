"""A programmable webhook receiver on 127.0.0.1 (tests and benchmarks).

    rx = WebhookReceiver().start()
    rx.url("zap")                          # http://127.0.0.1:PORT/hooks/zap
    rx.always("zap", 500)                  # every request to /hooks/zap answers 500
    rx.then("zap", 429, {"Retry-After": "120"}); rx.then("zap", 200)   # scripted, one per request
    rx.redirect("zap", "http://example.invalid/")                      # 307 to elsewhere
    rx.hold("zap")                         # requests wait until rx.release("zap")
    rx.received("zap") -> [Request, ...]   # every request, with headers and raw body
    rx.ids("zap") -> ["msg_...", ...]      # webhook-id of each request, in arrival order

Records every request, including those answered with an error.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from tests.standins.http import Request, Response, StandinServer


class WebhookReceiver:
    def __init__(self):
        self.server = StandinServer()
        self._lock = threading.Lock()
        self._script: dict[str, list[Response]] = defaultdict(list)
        self._default: dict[str, Response] = {}
        self._holds: dict[str, threading.Event] = {}
        self._arrived = threading.Condition(self._lock)
        self.inflight = 0
        self.max_inflight = 0  # the most requests this receiver was handling at once
        self.server.route("POST", r"/hooks/(?P<name>[\w.-]+)")(self._handle)

    # -- programming -----------------------------------------------------------------------------
    def always(self, name: str, status: int = 200, headers: dict[str, str] | None = None,
               body: object = None, delay: float = 0.0) -> None:
        with self._lock:
            self._default[name] = Response(status, body if body is not None else {"status": status},
                                           headers or {}, delay)

    def then(self, name: str, status: int, headers: dict[str, str] | None = None, body: object = None) -> None:
        """Answer the next request to ``name`` so (queued; the default applies after the queue)."""
        with self._lock:
            self._script[name].append(Response(status, body if body is not None else {"status": status},
                                               headers or {}))

    def redirect(self, name: str, location: str, status: int = 307) -> None:
        self.always(name, status, {"Location": location}, body="")

    def hold(self, name: str) -> None:
        with self._lock:
            self._holds[name] = threading.Event()

    def release(self, name: str) -> None:
        with self._lock:
            ev = self._holds.pop(name, None)
        if ev:
            ev.set()

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._default.clear()
            for ev in self._holds.values():
                ev.set()
            self._holds.clear()
            self.max_inflight = 0
        self.server.reset_requests()

    # -- serving ---------------------------------------------------------------------------------
    def _handle(self, req: Request) -> Response:
        name = req.params["name"]
        with self._lock:
            hold = self._holds.get(name)
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self._arrived.notify_all()
        try:
            if hold is not None:
                hold.wait(30)
            with self._lock:
                resp = self._script[name].pop(0) if self._script[name] else \
                    (self._default.get(name) or Response(200, {"ok": True}))
            if resp.delay:  # slow endpoint: counts as in flight while it "works"
                import time

                time.sleep(resp.delay)
                resp = Response(resp.status, resp.body, resp.headers)
            return resp
        finally:
            with self._lock:
                self.inflight -= 1

    def wait_for(self, n: int, name: str | None = None, timeout: float = 30) -> bool:
        """Block until ``n`` requests (to ``name``) have arrived; for crash tests, not timing."""
        with self._lock:
            return self._arrived.wait_for(lambda: len(self._unlocked_received(name)) >= n, timeout)

    # -- reading ---------------------------------------------------------------------------------
    def _unlocked_received(self, name: str | None) -> list[Request]:
        reqs = list(self.server.requests)
        if name is None:
            return reqs
        return [r for r in reqs if r.path == f"/hooks/{name}"]

    def received(self, name: str | None = None) -> list[Request]:
        with self.server._lock:
            return self._unlocked_received(name)

    def ids(self, name: str | None = None) -> list[str]:
        return [r.headers.get("webhook-id", "") for r in self.received(name)]

    def url(self, name: str) -> str:
        return f"{self.server.url}/hooks/{name}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.reset()
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
