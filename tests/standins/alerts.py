"""Stand-ins for the alert channels and a probe target, on the shared loopback server.

- Slack incoming webhook: ``POST /services/<T>/<B>/<X>`` with ``{"text": ...}`` -> 200 "ok"
  (Slack answers 400 "invalid_payload" without text, 404 "no_service" for an unknown hook).
- Twilio Messages: ``POST /2010-04-01/Accounts/<sid>/Messages.json`` (form: To, From, Body; HTTP
  Basic sid:token) -> 201 with a message resource; 401 with Twilio's error body on bad auth;
  21211 for an invalid 'To' number.
- A provider to probe: ``GET /studio/me`` (Bearer api key) -> 200; fail it with ``faults``.
- Dead-man's-switch pings: ``GET /ping/<uuid>[/start|/fail|/<code>]`` -> 200 "OK".
"""

from __future__ import annotations

import base64
import itertools
from urllib.parse import parse_qs

from tests.standins.http import Request, Response, StandinServer

SLACK_PATH = "/services/T000/B000/XXXXXXXX"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-token-123456"
PROBE_KEY = "probe-key-abcdef123"


class AlertStandins:
    def __init__(self):
        self.srv = StandinServer()
        self.slack: list[dict] = []
        self.sms: list[dict] = []
        self.pings: list[str] = []
        self.probes = 0
        ids = itertools.count(1)
        srv = self.srv

        @srv.route("POST", r"/services/(?P<t>\w+)/(?P<b>\w+)/(?P<x>\w+)")
        def slack(req: Request) -> Response:
            if req.path != SLACK_PATH:
                return Response(404, "no_service")
            body = req.json()
            if not isinstance(body, dict) or not body.get("text"):
                return Response(400, "invalid_payload")
            self.slack.append(body)
            return Response(200, "ok")

        @srv.route("POST", r"/2010-04-01/Accounts/(?P<sid>\w+)/Messages\.json")
        def twilio(req: Request) -> Response:
            expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
            if req.params["sid"] != TWILIO_SID or req.headers.get("authorization") != expected:
                return Response(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                      "more_info": "https://www.twilio.com/docs/errors/20003"})
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            if not form.get("To", "").startswith("+"):
                return Response(400, {"code": 21211, "message": f"The 'To' number {form.get('To')} is not a valid phone number.",
                                      "status": 400})
            self.sms.append(form)
            return Response(201, {"sid": f"SM{next(ids):032d}", "status": "queued", "to": form["To"],
                                  "from": form.get("From"), "body": form.get("Body")})

        @srv.route("GET", r"/studio/me")
        def probe(req: Request) -> Response:
            self.probes += 1
            if req.headers.get("authorization") != f"Bearer {PROBE_KEY}":
                return Response(401, {"error": "unauthorized"})
            return Response(200, {"id": "studio-1", "name": "Test Studio"})

        @srv.route("GET", r"/ping/(?P<rest>.+)")
        def ping(req: Request) -> Response:
            self.pings.append(req.path[len("/ping/"):])
            return Response(200, "OK")

    @property
    def url(self) -> str:
        return self.srv.url

    def start(self):
        self.srv.start()
        return self

    def stop(self):
        self.srv.stop()


def probe(rt, provider: str) -> str:
    """A provider health probe shaped like the real ones (check(rt, provider) -> str), used by tests
    to probe the stand-in through the real HttpClient (retries, recording) without another feature."""
    from wedsync_cli.http.client import Auth, HttpClient

    key = rt.credentials.require(provider)["api_key"]

    class Bearer(Auth):
        def headers(self):
            return {"Authorization": f"Bearer {key}"}

    base = rt.provider_settings(provider)["base_url"]
    with HttpClient(provider, base, auth=Bearer(), clock=rt.clock, recorder=rt.recorder, timeout=5) as c:
        resp = c.get("/studio/me", operation="studio.me")
    if resp.status_code >= 400:
        from wedsync_cli.errors import ProviderUnavailable

        raise ProviderUnavailable(f"{provider} answered HTTP {resp.status_code}")
    return "GET /studio/me"
