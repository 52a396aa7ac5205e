"""Local stand-ins for the paging providers, speaking their published protocols on
127.0.0.1 (port 0):

- Twilio: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `…/Calls.json` with HTTP
  Basic auth (AccountSid:AuthToken) and form parameters, answering 201 with the resource as
  JSON or 4xx with Twilio's error JSON (code, message, more_info, status). Then, as Twilio
  does, it POSTs signed status callbacks (MessageStatus sent → delivered, or undelivered;
  CallStatus), fetches a call's TwiML from its Url, and can press digits into its <Gather> and
  send inbound SMS to the console, each signed with X-Twilio-Signature.
- ntfy: JSON publishing to the server's root (`{"topic", "message", "priority", "actions"…}`),
  with an optional bearer token; answers the message JSON with its id.
- Slack: the Web API's chat.postMessage (bearer token, JSON) and a response_url that records
  message updates; `interaction()` builds a block_actions payload signed as Slack signs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Written from Twilio's description, independently of the console's code."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, body: dict | str, content_type: str = "application/json"):
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.owner.handle(self, body)

    def do_GET(self) -> None:  # noqa: N802
        self._reply(405, {"message": "method not allowed"})


@contextmanager
def _serving(owner) -> Iterator:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.owner = owner
    owner.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        server.shutdown()
        server.server_close()
        for worker in list(owner.threads):
            worker.join(timeout=10)


def _error(handler, status: int, code: int, message: str) -> None:
    handler._reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class TwilioStandIn:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, console_url: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.console_url = console_url.rstrip("/")
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.calls: list[dict] = []
        self.callbacks: list[dict] = []  # what the console answered to each signed request
        self.threads: list[threading.Thread] = []
        # Numbers whose texts fail (MessageStatus undelivered) or whose calls go unanswered.
        self.undeliverable: set[str] = set()
        self.unanswered: set[str] = set()

    # -- signed requests to the console --------------------------------------------------
    def signed_post(self, url: str, params: list[tuple[str, str]], forge: bool = False):
        signature = twilio_signature(self.auth_token, url, params)
        if forge:
            signature = twilio_signature("not-the-auth-token", url, params)
        response = httpx.post(
            url,
            content=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
            },
            timeout=10,
        )
        with self.lock:
            self.callbacks.append({"url": url, "params": params, "status": response.status_code})
        return response

    def inbound_sms(self, from_number: str, body: str, forge: bool = False):
        params = [
            ("MessageSid", "SM" + secrets.token_hex(16)),
            ("SmsSid", "SM" + secrets.token_hex(16)),
            ("AccountSid", self.account_sid),
            ("From", from_number),
            ("To", self.from_number),
            ("Body", body),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
            ("SmsStatus", "received"),
            ("ApiVersion", "2010-04-01"),
        ]
        return self.signed_post(f"{self.console_url}/hooks/twilio/sms/", params, forge=forge)

    def press(self, call: dict, digits: str, forge: bool = False):
        """Press digits into the call's <Gather>: POST to its action, as Twilio does."""
        gather = ET.fromstring(call["twiml"]).find("Gather")
        assert gather is not None, call["twiml"]
        params = self._call_params(call, "in-progress") + [("Digits", digits)]
        params.append(("FinishedOnKey", ""))
        response = self.signed_post(gather.get("action"), params, forge=forge)
        return response

    def _call_params(self, call: dict, status: str) -> list[tuple[str, str]]:
        return [
            ("AccountSid", self.account_sid),
            ("CallSid", call["sid"]),
            ("From", call["from"]),
            ("To", call["to"]),
            ("CallStatus", status),
            ("Direction", "outbound-api"),
            ("ApiVersion", "2010-04-01"),
        ]

    # -- the REST API --------------------------------------------------------------------
    def handle(self, handler: _Handler, body: bytes) -> None:
        path = urlsplit(handler.path).path
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json", path)
        if not match:
            return _error(handler, 404, 20404, "The requested resource was not found")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}" or (
            match.group(1) != self.account_sid
        ):
            return _error(handler, 401, 20003, "Authenticate")
        if not handler.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _error(handler, 400, 20001, "Parameters must be form-encoded")
        params = parse_qsl(body.decode(), keep_blank_values=True)
        form: dict[str, list[str]] = {}
        for key, value in params:
            form.setdefault(key, []).append(value)
        one = {k: v[0] for k, v in form.items()}
        to, sender = one.get("To", ""), one.get("From", "")
        if not E164.match(to):
            return _error(handler, 400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender != self.from_number:
            return _error(
                handler,
                400,
                21606,
                f"The From phone number {sender} is not a valid, "
                "SMS-capable inbound phone number or short code for your account.",
            )
        if match.group(2) == "Messages":
            if not one.get("Body"):
                return _error(handler, 400, 21602, "Message body is required.")
            resource = {"sid": "SM" + secrets.token_hex(16), "body": one["Body"]}
        else:
            if not one.get("Url"):
                return _error(handler, 400, 21205, "Url parameter is required.")
            resource = {"sid": "CA" + secrets.token_hex(16), "url": one["Url"]}
        resource.update(
            {
                "account_sid": self.account_sid,
                "to": to,
                "from": sender,
                "status": "queued",
                "api_version": "2010-04-01",
                "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                "uri": f"{path[:-5]}/{'{sid}'}.json",
            }
        )
        resource["uri"] = resource["uri"].replace("{sid}", resource["sid"])
        record = {**resource, "form": form, "twiml": None}
        with self.lock:
            (self.messages if match.group(2) == "Messages" else self.calls).append(record)
        handler._reply(201, resource)
        follow = self._message_life if match.group(2) == "Messages" else self._call_life
        worker = threading.Thread(target=follow, args=(record,), daemon=True)
        self.threads.append(worker)
        worker.start()

    def _message_life(self, message: dict) -> None:
        callback = message["form"].get("StatusCallback", [None])[0]
        if not callback:
            return
        final = ["undelivered"] if message["to"] in self.undeliverable else ["delivered"]
        for status in ["sent", *final]:
            params = [
                ("AccountSid", self.account_sid),
                ("MessageSid", message["sid"]),
                ("SmsSid", message["sid"]),
                ("MessageStatus", status),
                ("SmsStatus", status),
                ("From", message["from"]),
                ("To", message["to"]),
                ("ApiVersion", "2010-04-01"),
            ]
            if status == "undelivered":
                params.append(("ErrorCode", "30003"))
            self.signed_post(callback, params)

    def _call_life(self, call: dict) -> None:
        form = call["form"]
        callback = form.get("StatusCallback", [None])[0]
        events = form.get("StatusCallbackEvent", [])
        if call["to"] in self.unanswered:
            if callback:
                self.signed_post(callback, self._call_params(call, "no-answer"))
            return
        if callback and "answered" in events:
            self.signed_post(callback, self._call_params(call, "in-progress"))
        method = form.get("Method", ["POST"])[0]
        assert method == "POST"
        response = self.signed_post(call["url"], self._call_params(call, "in-progress"))
        with self.lock:
            call["twiml_status"] = response.status_code
            call["twiml"] = response.text


@contextmanager
def twilio_standin(console_url: str, **kwargs) -> Iterator[TwilioStandIn]:
    standin = TwilioStandIn(
        kwargs.get("account_sid", "AC" + "0" * 31 + "1"),
        kwargs.get("auth_token", "standin-auth-token"),
        kwargs.get("from_number", "+14155550100"),
        console_url,
    )
    with _serving(standin):
        yield standin


class NtfyStandIn:
    def __init__(self, token: str = ""):
        self.token = token
        self.lock = threading.Lock()
        self.published: list[dict] = []
        self.threads: list[threading.Thread] = []

    def handle(self, handler: _Handler, body: bytes) -> None:
        if self.token and handler.headers.get("Authorization") != f"Bearer {self.token}":
            return handler._reply(401, {"code": 40101, "http": 401, "error": "unauthorized"})
        if urlsplit(handler.path).path != "/":
            return handler._reply(400, {"code": 40001, "http": 400, "error": "publish JSON to /"})
        try:
            message = json.loads(body)
        except ValueError:
            return handler._reply(400, {"code": 40024, "http": 400, "error": "invalid JSON"})
        topic = message.get("topic", "")
        if not re.fullmatch(r"[-_A-Za-z0-9]{1,64}", topic):
            return handler._reply(400, {"code": 40009, "http": 400, "error": "invalid topic"})
        priority = message.get("priority", 3)
        if priority not in (1, 2, 3, 4, 5):
            return handler._reply(400, {"code": 40007, "http": 400, "error": "invalid priority"})
        for action in message.get("actions", []):
            if action.get("action") not in ("view", "http", "broadcast") or not action.get("label"):
                return handler._reply(400, {"code": 40018, "http": 400, "error": "invalid action"})
        stored = {
            "id": secrets.token_urlsafe(9)[:12],
            "time": int(time.time()),
            "expires": int(time.time()) + 43200,
            "event": "message",
            **message,
        }
        with self.lock:
            self.published.append(stored)
        handler._reply(200, stored)

    def press(self, message: dict, label: str = "Acknowledge"):
        """What the ntfy app does when the person taps an http action."""
        action = next(a for a in message["actions"] if a["label"] == label)
        return httpx.request(
            action.get("method", "POST"),
            action["url"],
            headers=action.get("headers", {}),
            content=action.get("body", ""),
            timeout=10,
        )


@contextmanager
def ntfy_standin(token: str = "") -> Iterator[NtfyStandIn]:
    with _serving(NtfyStandIn(token)) as standin:
        yield standin


class SlackStandIn:
    """chat.postMessage (bearer token) and a response_url recording message updates."""

    def __init__(self, bot_token: str, signing_secret: str):
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.lock = threading.Lock()
        self.posted: list[dict] = []
        self.updates: list[dict] = []
        self.threads: list[threading.Thread] = []

    def handle(self, handler: _Handler, body: bytes) -> None:
        path = urlsplit(handler.path).path
        if path.startswith("/actions/"):
            with self.lock:
                self.updates.append(json.loads(body))
            return handler._reply(200, "ok", "text/plain")
        if path != "/api/chat.postMessage":
            return handler._reply(404, {"ok": False, "error": "unknown_method"})
        if handler.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return handler._reply(200, {"ok": False, "error": "invalid_auth"})
        message = json.loads(body)
        if not message.get("channel"):
            return handler._reply(200, {"ok": False, "error": "channel_not_found"})
        ts = f"{time.time():.6f}"
        with self.lock:
            self.posted.append({**message, "ts": ts})
        handler._reply(
            200,
            {
                "ok": True,
                "channel": "D0" + message["channel"][1:],
                "ts": ts,
                "message": {"text": message.get("text", ""), "ts": ts},
            },
        )

    def interaction(
        self, member_id: str, action_id: str, value: str, *, age: int = 0, secret: str | None = None
    ) -> tuple[bytes, dict]:
        """A block_actions press as Slack posts it: the form field payload=<JSON>, with
        X-Slack-Request-Timestamp and X-Slack-Signature (v0, HMAC-SHA256)."""
        payload = {
            "type": "block_actions",
            "user": {"id": member_id, "username": member_id.lower(), "team_id": "T0STANDIN"},
            "api_app_id": "A0STANDIN",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0PAGING"},
            "trigger_id": "1.2.3",
            "team": {"id": "T0STANDIN", "domain": "standin"},
            "channel": {"id": "C0PAGING", "name": "paging"},
            "response_url": f"{self.url}/actions/T0STANDIN/{secrets.token_hex(6)}",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": f"incident-{value}",
                    "value": value,
                    "text": {"type": "plain_text", "text": action_id.title()},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        timestamp = str(int(time.time()) - age)
        base = b"v0:" + timestamp.encode() + b":" + body
        key = (secret or self.signing_secret).encode()
        signature = "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()
        return body, {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


@contextmanager
def slack_standin(bot_token: str = "xoxb-standin", signing_secret: str = "slack-signing-secret"):
    with _serving(SlackStandIn(bot_token, signing_secret)) as standin:
        yield standin
