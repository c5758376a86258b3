"""A real Radicale CalDAV server on 127.0.0.1 for tests and benchmarks (in-thread WSGI, temp storage).

    srv = RadicaleServer().start()            # no auth: any username/password, user = principal
    srv = RadicaleServer(users={"alice": "s3cret"}).start()   # htpasswd plain auth (401 tests)
    url = srv.make_calendar("alice", "weddings")              # full collection URL
    srv.faults.queue.append("503")                            # the next request gets a 503
    srv.count("PUT")                                           # requests the server saw
    srv.stop()

Radicale runs in-process (a threaded wsgiref server around ``radicale.Application``), so starting
one costs milliseconds and a subprocess CLI under test reaches it over loopback like any server.
A small WSGI middleware in front of it records every request and injects faults (5xx / 429 with
Retry-After, or holding a request until released) without a separate proxy process.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.standins.http import Faults as _SharedFaults


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class SeenRequest:
    method: str
    path: str
    status: int | None = None


def Faults() -> _SharedFaults:  # noqa: N802 - the shared fault switch, with Radicale's defaults
    """``queue``: kinds for the next requests, in order ("503", "500", "429"); ``path_filter`` /
    ``method_filter`` restrict which requests may be hit; ``retry_after`` goes on 429/503."""
    return _SharedFaults(retry_after="1", seed=7)


class RadicaleServer:
    def __init__(self, users: dict[str, str] | None = None, folder: str | Path | None = None):
        self.users = users
        self._own_tmp = None
        if folder is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix="wedsync-radicale-", ignore_cleanup_errors=True)
            folder = self._own_tmp.name
        self.folder = Path(folder)
        self.faults = Faults()
        self.requests: list[SeenRequest] = []
        # hold: when set, requests matching (method, path regex) wait on ``release`` after Radicale
        # answered them (the write is done, the client has not heard back) - for kill -9 tests.
        self.hold: tuple[str, str] | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.httpd = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def _config(self):
        import radicale.config

        conf = radicale.config.load()
        auth: dict[str, str] = {"type": "none"}
        if self.users is not None:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            auth = {"type": "htpasswd", "htpasswd_filename": str(htpasswd), "htpasswd_encryption": "plain"}
        conf.update({
            "auth": auth,
            "rights": {"type": "owner_only"},
            "storage": {"filesystem_folder": str(self.folder / "collections"), "_filesystem_fsync": "False"},
            "logging": {"level": "error", "mask_passwords": "True"},
        }, "wedsync-tests", privileged=True)
        return conf

    def start(self) -> RadicaleServer:
        import logging

        import radicale

        # Radicale logs every refused precondition and bad token (what the tests provoke) with a
        # traceback; keep test output about our code.
        logging.getLogger("radicale").setLevel(logging.CRITICAL)
        app = radicale.Application(self._config())
        logging.getLogger("radicale").setLevel(logging.CRITICAL)
        self.httpd = make_server("127.0.0.1", 0, self._middleware(app), server_class=_ThreadingServer,
                                 handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # -- the middleware ---------------------------------------------------------------------------
    def _middleware(self, app):
        server = self

        def wrapped(environ, start_response):
            method = environ["REQUEST_METHOD"]
            path = environ.get("PATH_INFO", "")
            seen = SeenRequest(method, path)
            with server._lock:
                server.requests.append(seen)
            fault = server.faults.pick(path, method)
            if fault is not None:
                status = int(fault) if fault.isdigit() else 503
                seen.status = status
                headers = [("Content-Type", "text/plain")]
                if status in (429, 503) and server.faults.retry_after is not None:
                    headers.append(("Retry-After", server.faults.retry_after))
                # Read the body so the client is not left writing into a closed socket.
                _drain(environ)
                start_response(f"{status} Injected", headers)
                return [b"injected fault"]

            captured: dict = {}

            def capture(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers
                return lambda data: None

            body = b"".join(app(environ, capture))
            seen.status = int(captured["status"].split()[0])
            hold = server.hold
            if hold and method == hold[0] and re.search(hold[1], path):
                server.held.set()
                server.release.wait(60)
            start_response(captured["status"], captured["headers"])
            return [body]

        return wrapped

    # -- helpers for tests ------------------------------------------------------------------------
    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if (method is None or r.method == method)
                       and (path_regex is None or re.search(path_regex, r.path)))

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def _client(self, user: str, timeout: int | None = None):
        import caldav

        password = (self.users or {}).get(user, "x")
        return caldav.DAVClient(url=self.url, username=user, password=password, auth_type="basic",
                                timeout=timeout)

    def make_calendar(self, user: str = "alice", cal_id: str | None = None, name: str | None = None) -> str:
        """Create a calendar collection (through CalDAV, as a user would) and return its URL."""
        cal_id = cal_id or f"cal-{uuid.uuid4().hex[:8]}"
        with self._client(user) as client:
            client.principal().make_calendar(name=name or cal_id, cal_id=cal_id)
        return f"{self.url}{user}/{cal_id}/"

    def calendar(self, url: str, user: str = "alice", timeout: int | None = None):
        """A caldav Calendar object for direct (out-of-band) edits in tests: 'someone else's' client."""
        client = self._client(user, timeout)
        return client.calendar(url=url)

    def seed_events(self, user: str, cal_id: str, items: dict[str, str]) -> None:
        """Write ``{file name: ics text}`` straight into a calendar's storage folder (fast bulk seeding:
        Radicale's per-PUT cost grows with the collection). Radicale rebuilds its cache on next read."""
        col = self.folder / "collections" / "collection-root" / user / cal_id
        col.mkdir(parents=True, exist_ok=True)
        props = col / ".Radicale.props"
        if not props.exists():
            props.write_text(json.dumps({"C:supported-calendar-component-set": "VEVENT",
                                         "D:displayname": cal_id, "tag": "VCALENDAR"}))
        for name, text in items.items():
            (col / name).write_text(text, newline="")
        # Radicale caches a collection's sync state by its files' mtimes; touching the folder makes
        # the new files visible.
        os.utime(col, None)


def _drain(environ) -> None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length:
        environ["wsgi.input"].read(length)


def vevent_ics(uid: str, summary: str, start: str = "20260620T140000Z", end: str = "20260620T200000Z",
               location: str | None = None) -> str:
    """A minimal VCALENDAR with one VEVENT, as another client would write it."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//other client//test//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             f"SUMMARY:{summary}"]
    if location:
        lines.append(f"LOCATION:{location}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll a condition (for waiting on another process, never on a schedule)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False

