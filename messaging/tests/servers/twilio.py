"""A local Twilio Programmable Messaging API (2010-04-01) as documented: HTTP Basic auth with
the Account SID and Auth Token, Messages.json create (form body) and list (To, From, DateSent>=
filters, paged), the error bodies `{code, message, more_info, status}` (20003 authenticate,
21211 invalid To, 21610 unsubscribed recipient, 20429 too many requests), and the webhooks it
sends — status callbacks and incoming messages — signed with X-Twilio-Signature
(base64 HMAC-SHA1 of the URL followed by the sorted POST parameters, keyed by the Auth Token).
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit

import requests

from .http import ProviderServer

STOPPED = "Attempt to send to unsubscribed recipient"


def twilio_signature(auth_token: str, url: str, params: dict) -> str:
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioServer(ProviderServer):
    def __init__(
        self,
        *,
        account_sid="AC" + "0" * 32,
        auth_token="twilio-token-test",
        numbers=("+15005550006",),
        per_second=100,
    ):
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.numbers = set(numbers)
        self.per_second = per_second
        self.messages: list[dict] = []
        self.stopped: set[str] = set()  # recipients who texted STOP
        self.undeliverable: set[str] = set()
        self._calls: list[float] = []

    def _json(self, status: int, data: dict):
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    def _error(self, status: int, code: int, message: str):
        return self._json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _resource(self, m: dict) -> dict:
        return {
            "sid": m["sid"],
            "account_sid": self.account_sid,
            "to": m["to"],
            "from": m["from"],
            "body": m["body"],
            "status": m["status"],
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": format_datetime(m["created"], usegmt=True),
            "date_sent": format_datetime(m["created"], usegmt=True),
            "date_updated": format_datetime(m["created"], usegmt=True),
            "error_code": m.get("error_code"),
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m['sid']}.json",
        }

    def handle(self, method, path, headers, body):
        auth = headers.get("Authorization", "")
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if not hmac.compare_digest(auth, expected):
            return self._error(401, 20003, "Authenticate")
        parts = urlsplit(path)
        match = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Messages\.json", parts.path)
        if not match or match.group(1) != self.account_sid:
            return self._error(404, 20404, "The requested resource was not found")
        with self.lock:
            now = time.monotonic()
            self._calls = [t for t in self._calls if now - t < 1]
            if len(self._calls) >= self.per_second:
                return self._error(429, 20429, "Too Many Requests")
            self._calls.append(now)
        if method == "POST":
            return self._create(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        return self._list(dict(parse_qsl(parts.query, keep_blank_values=True)))

    def _create(self, p: dict):
        to, sender = p.get("To", ""), p.get("From", "")
        if not re.fullmatch(r"\+[1-9]\d{7,14}", to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if sender not in self.numbers:
            return self._error(
                400,
                21606,
                "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
            )
        if to in self.stopped:
            return self._error(400, 21610, STOPPED)
        message = {
            "sid": "SM" + secrets.token_hex(16),
            "to": to,
            "from": sender,
            "body": p.get("Body", ""),
            "status": "queued",
            "callback": p.get("StatusCallback", ""),
            "created": datetime.now(UTC),
            "reported": False,
        }
        with self.lock:
            self.messages.append(message)
        return self._json(201, self._resource(message))

    def _list(self, q: dict):
        day = q.get("DateSent>=")
        rows = [
            self._resource(m)
            for m in self.messages
            if (not q.get("To") or m["to"] == q["To"])
            and (not q.get("From") or m["from"] == q["From"])
            and (not day or m["created"].date().isoformat() >= day)
        ]
        return self._json(
            200,
            {
                "messages": rows,
                "end": max(len(rows) - 1, 0),
                "first_page_uri": "/",
                "next_page_uri": None,
                "page": 0,
                "page_size": int(q.get("PageSize", 50)),
                "previous_page_uri": None,
                "start": 0,
                "uri": "/",
            },
        )

    # --- webhooks Twilio sends ------------------------------------------------------------------
    def _post_signed(self, url: str, params: dict, token: str | None = None):
        signature = twilio_signature(token or self.auth_token, url, params)
        return requests.post(
            url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )

    def push_status(self, *, token: str | None = None) -> list[requests.Response]:
        """The final status of every message not yet reported, to its StatusCallback."""
        out = []
        for m in self.messages:
            if m["reported"] or not m["callback"]:
                continue
            m["reported"] = True
            failed = m["to"] in self.undeliverable
            m["status"] = "undelivered" if failed else "delivered"
            params = {
                "AccountSid": self.account_sid,
                "From": m["from"],
                "To": m["to"],
                "MessageSid": m["sid"],
                "SmsSid": m["sid"],
                "MessageStatus": m["status"],
                "SmsStatus": m["status"],
                "ApiVersion": "2010-04-01",
            }
            if failed:
                params["ErrorCode"] = "30003"
            out.append(self._post_signed(m["callback"], params, token))
        return out

    def push_incoming(self, url: str, *, sender: str, to: str, text: str, token: str | None = None):
        if text.strip().upper() in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
            self.stopped.add(sender)
        params = {
            "AccountSid": self.account_sid,
            "MessageSid": "SM" + secrets.token_hex(16),
            "From": sender,
            "To": to,
            "Body": text,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        return self._post_signed(url, params, token)

    @property
    def account(self) -> dict:
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "base_url": f"http://127.0.0.1:{self.port}",
        }
