"""Channel backends: one class per provider, chosen per site and channel (`SiteChannel`).

A backend is built with the site's channel settings and the provider account's credentials
(from `settings.DMS_MESSAGING_ACCOUNTS`, never from the database) and offers:

- `send(out) -> SendResult`: hand one message to the provider. Raises `TransientSendError`
  (try again later: busy, throttled, a 5xx answer), `PermanentSendError` (the provider refused
  this message for good) or `UnknownOutcome` (no answer: it may or may not have been sent;
  the message is then reconciled through `lookup`, never sent blindly again).
- `lookup(out) -> SendResult | None`: ask the provider whether it has the message (our
  idempotency key or what identifies it); None means it never got it. Providers without a
  status query raise `LookupUnsupported`.
- `callback_reports(request) / inbound(request)`: read and verify a provider's status
  callback or a customer's reply; a forged request raises `ForgedRequest`.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core import mail
from django.utils import timezone

log = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The provider is busy, throttling or unreachable before it took the message."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.code, self.retry_after = code, retry_after


class PermanentSendError(Exception):
    """The provider refused this message; sending it again would fail the same way."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class UnknownOutcome(Exception):
    """The request went out but no answer came back: reconcile, do not resend blindly."""


class LookupUnsupported(Exception):
    """The provider offers no way to ask whether it has a message."""


class ForgedRequest(Exception):
    """A callback whose signature (or secret) does not verify."""


class AuthorizationFailed(Exception):
    """WeChat web authorization gave no openid: the code is wrong, used or expired, the account
    is misconfigured, or WeChat could not be reached."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


@dataclass
class Outgoing:
    """One message as a backend sees it (plain values)."""

    key: str
    to: str
    body: str
    subject: str = ""
    provider_template: str = ""
    params: dict = field(default_factory=dict)
    claimed_at: datetime | None = None
    callback_url: str = ""


@dataclass
class SendResult:
    provider_message_id: str
    status: str = "sent"  # "sent" | "delivered" | "failed"
    error_code: str = ""
    error: str = ""


@dataclass
class StatusReport:
    """A provider's word on one message: by its id or by our key."""

    provider_message_id: str = ""
    key: str = ""
    status: str = "delivered"  # "sent" | "delivered" | "failed"
    error_code: str = ""
    error: str = ""


@dataclass
class InboundReport:
    sender: str
    text: str
    provider_message_id: str = ""
    to: str = ""


_NOT_CONNECTED = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "ConnectTimeoutError",
    "NameResolutionError",
)


def never_reached(exc: BaseException) -> bool:
    """The request could not even connect (refused, DNS, connect timeout): nothing was sent,
    so it is safe to retry rather than reconcile."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(mark in str(exc) for mark in _NOT_CONNECTED)


def account_settings(name: str) -> dict:
    """The credentials and endpoint of one provider account, from the server's settings."""
    accounts = settings.DMS_MESSAGING_ACCOUNTS or {}
    return dict(accounts.get(name) or {})


class Backend:
    provider = ""

    def __init__(self, *, account: dict, sign_name: str = "", sender: str = "", name: str = ""):
        self.account, self.sign_name, self.sender, self.name = account, sign_name, sender, name

    def send(self, out: Outgoing) -> SendResult:
        raise NotImplementedError

    def lookup(self, out: Outgoing) -> SendResult | None:
        raise LookupUnsupported(self.provider)

    def callback_reports(self, request) -> list[StatusReport]:
        raise ForgedRequest("this provider sends no status callbacks")

    def inbound(self, request) -> list[InboundReport]:
        raise ForgedRequest("this provider sends no replies")


class RecordingBackend(Backend):
    """Records the message on its row and sends nothing (a site without a provider yet, the
    demo). Its "provider id" is the message key."""

    provider = "recording"

    def send(self, out: Outgoing) -> SendResult:
        return SendResult(provider_message_id=f"rec-{out.key}")

    def lookup(self, out: Outgoing) -> SendResult | None:
        return None  # nothing ever left: sending again is safe


class SmtpBackend(Backend):
    """E-mail through Django's e-mail backends (`EMAIL_BACKEND`, or the account's `backend`,
    `host`, `port`, `username`, `password`, `use_tls`). The Message-ID carries our key. SMTP
    gives no delivery receipt: a message the server accepted stays `sent`."""

    provider = "smtp"

    def _connection(self):
        acc = self.account
        options = {
            k: acc[k]
            for k in ("host", "port", "username", "password", "use_tls", "use_ssl", "timeout")
            if k in acc
        }
        options.setdefault("timeout", 20)
        return mail.get_connection(acc.get("backend") or settings.EMAIL_BACKEND, **options)

    def send(self, out: Outgoing) -> SendResult:
        import smtplib
        import socket

        message_id = f"<{out.key}@{settings.DMS_MESSAGING_MAIL_DOMAIN}>"
        email = mail.EmailMessage(
            subject=out.subject or out.body[:60],
            body=out.body,
            from_email=self.sender or settings.DEFAULT_FROM_EMAIL,
            to=[out.to],
            headers={"Message-ID": message_id},
            connection=self._connection(),
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientSendError(str(exc)[:300], code=str(codes[0])) from exc
            raise PermanentSendError(str(exc)[:300], code="recipient_refused") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientSendError(str(exc)[:300], code=str(exc.smtp_code)) from exc
            raise PermanentSendError(str(exc)[:300], code=str(exc.smtp_code)) from exc
        except (ConnectionRefusedError, socket.gaierror, smtplib.SMTPConnectError) as exc:
            raise TransientSendError(str(exc)[:300], code="connect") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise UnknownOutcome(str(exc)[:300]) from exc
        return SendResult(provider_message_id=message_id)


# --- Alibaba Cloud SMS (dysmsapi 2017-05-25) ---------------------------------------------------
# Codes of SendSms that are worth retrying later; every other code but OK is a refusal.
ALIYUN_TRANSIENT = {
    "isv.BUSINESS_LIMIT_CONTROL",  # per-number / per-minute business limit
    "isp.SYSTEM_ERROR",
    "isv.AMOUNT_NOT_ENOUGH",  # the account ran out of credit: top up, then it goes
    "Throttling.User",
    "Throttling",
    "ServiceUnavailable",
}


class AliyunSmsBackend(Backend):
    """Alibaba Cloud SMS through its SDK (`alibabacloud_dysmsapi20170525`). Account settings:
    `access_key_id`, `access_key_secret`, `endpoint` (default dysmsapi.aliyuncs.com), optional
    `protocol` ("https"), `callback_token` (the secret part of the receipt/reply URLs). The
    site's signature name and each template's SMS_… code are registered with Alibaba Cloud."""

    provider = "aliyun"

    def _client(self):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        acc = self.account
        return Client(
            Config(
                access_key_id=acc.get("access_key_id"),
                access_key_secret=acc.get("access_key_secret"),
                endpoint=acc.get("endpoint", "dysmsapi.aliyuncs.com"),
                protocol=acc.get("protocol", "https"),
                connect_timeout=int(acc.get("connect_timeout_ms", 5000)),
                read_timeout=int(acc.get("read_timeout_ms", 10000)),
            )
        )

    @staticmethod
    def _call(fn, request):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.runtime import RuntimeOptions

        try:
            return fn(request, RuntimeOptions(autoretry=False, max_attempts=1)).body
        except AlibabaCloudException as exc:
            code, status = exc.code or "", exc.status_code or 0
            text = f"{code}: {exc.message}"[:300]
            if code in ALIYUN_TRANSIENT or status == 429 or status >= 500:
                raise TransientSendError(text, code=code, retry_after=exc.retry_after) from exc
            raise PermanentSendError(text, code=code) from exc
        except Exception as exc:  # no HTTP answer (timeout, reset): it may have been sent
            if never_reached(exc):
                raise TransientSendError(str(exc)[:300], code="connect") from exc
            raise UnknownOutcome(str(exc)[:300]) from exc

    def send(self, out: Outgoing) -> SendResult:
        from alibabacloud_dysmsapi20170525 import models as m

        if not out.provider_template:
            raise PermanentSendError(
                "Alibaba Cloud SMS needs the template code of this message kind.",
                code="no_template_code",
            )
        client = self._client()
        body = self._call(
            client.send_sms_with_options,
            m.SendSmsRequest(
                phone_numbers=out.to.removeprefix("+86"),
                sign_name=self.sign_name,
                template_code=out.provider_template,
                template_param=json.dumps(out.params, ensure_ascii=False),
                out_id=out.key,
            ),
        )
        if body.code == "OK":
            return SendResult(provider_message_id=body.biz_id)
        text = f"{body.code}: {body.message}"[:300]
        if body.code in ALIYUN_TRANSIENT:
            raise TransientSendError(text, code=body.code)
        raise PermanentSendError(text, code=body.code)

    def lookup(self, out: Outgoing) -> SendResult | None:
        """QuerySendDetails for the number on the day it was handed over, matched by OutId."""
        from alibabacloud_dysmsapi20170525 import models as m

        day = timezone.localtime(out.claimed_at or timezone.now()).strftime("%Y%m%d")
        client = self._client()
        try:
            body = self._call(
                client.query_send_details_with_options,
                m.QuerySendDetailsRequest(
                    phone_number=out.to.removeprefix("+86"),
                    send_date=day,
                    page_size=50,
                    current_page=1,
                ),
            )
        except (UnknownOutcome, PermanentSendError) as exc:
            raise TransientSendError(str(exc)) from exc
        dtos = body.sms_send_detail_dtos.sms_send_detail_dto if body.sms_send_detail_dtos else []
        for dto in dtos or []:
            if dto.out_id == out.key:
                status = {1: "sent", 2: "failed", 3: "delivered"}.get(int(dto.send_status), "sent")
                return SendResult(
                    provider_message_id=f"out:{out.key}",  # the query does not give the BizId
                    status=status,
                    error_code=dto.err_code or "" if status == "failed" else "",
                )
        return None

    def _check_token(self, request, token: str) -> None:
        expected = self.account.get("callback_token") or ""
        if not expected or not hmac.compare_digest(expected.encode(), (token or "").encode()):
            raise ForgedRequest("wrong callback token")

    def callback_reports(self, request, token: str = "") -> list[StatusReport]:
        """The SmsReport HTTP push: a JSON list of receipts."""
        self._check_token(request, token)
        reports = []
        for item in json.loads(request.body or b"[]"):
            ok = item.get("success") in (True, "true")
            reports.append(
                StatusReport(
                    provider_message_id=str(item.get("biz_id", "")),
                    key=str(item.get("out_id", "")),
                    status="delivered" if ok else "failed",
                    error_code="" if ok else str(item.get("err_code", "")),
                    error="" if ok else str(item.get("err_msg", ""))[:300],
                )
            )
        return reports

    def inbound(self, request, token: str = "") -> list[InboundReport]:
        """The SmsUp HTTP push: a JSON list of replies."""
        self._check_token(request, token)
        return [
            InboundReport(
                sender=_e164_cn(str(item.get("phone_number", ""))),
                text=str(item.get("content", "")),
                provider_message_id=str(item.get("sequence_id", "")),
            )
            for item in json.loads(request.body or b"[]")
        ]


def _e164_cn(number: str) -> str:
    number = number.strip()
    if number.startswith("+"):
        return number
    return f"+86{number}" if len(number) == 11 else number


# --- Twilio -----------------------------------------------------------------------------------
TWILIO_TRANSIENT = {20429, 20500, 20503, 30001}


class TwilioBackend(Backend):
    """SMS through Twilio's SDK (`twilio`). Account settings: `account_sid`, `auth_token`,
    optional `base_url` (another API host, e.g. a local test server). Twilio takes no
    idempotency key on Messages: an unknown outcome is reconciled by listing the messages to
    the same number since the attempt and matching the text."""

    provider = "twilio"

    def _client(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        base = (self.account.get("base_url") or "").rstrip("/")

        class _Http(TwilioHttpClient):
            def request(self, method, url, *args, **kwargs):
                if base:
                    url = url.replace("https://api.twilio.com", base)
                return super().request(method, url, *args, **kwargs)

        return Client(
            self.account.get("account_sid"),
            self.account.get("auth_token"),
            http_client=_Http(timeout=float(self.account.get("timeout", 10))),
        )

    @staticmethod
    def _raise(exc) -> None:
        code = int(exc.code or 0)
        text = f"{exc.code}: {exc.msg}"[:300]
        if exc.status == 429 or exc.status >= 500 or code in TWILIO_TRANSIENT:
            raise TransientSendError(text, code=str(code or exc.status)) from exc
        raise PermanentSendError(text, code=str(code or exc.status)) from exc

    def send(self, out: Outgoing) -> SendResult:
        from twilio.base.exceptions import TwilioRestException

        try:
            message = self._client().messages.create(
                to=out.to,
                from_=self.sender,
                body=out.body,
                status_callback=out.callback_url or None,
            )
        except TwilioRestException as exc:
            self._raise(exc)
        except Exception as exc:  # no answer: it may have been created
            if never_reached(exc):
                raise TransientSendError(str(exc)[:300], code="connect") from exc
            raise UnknownOutcome(str(exc)[:300]) from exc
        status = "failed" if message.status in ("failed", "undelivered") else "sent"
        return SendResult(provider_message_id=message.sid, status=status)

    def lookup(self, out: Outgoing) -> SendResult | None:
        from twilio.base.exceptions import TwilioRestException

        since = out.claimed_at or timezone.now()
        try:
            found = self._client().messages.list(
                to=out.to, from_=self.sender, date_sent_after=since.date(), limit=50
            )
        except TwilioRestException as exc:
            raise TransientSendError(str(exc)[:300]) from exc
        except Exception as exc:
            raise TransientSendError(str(exc)[:300]) from exc
        for message in found:
            if message.body == out.body:
                status = {"delivered": "delivered", "failed": "failed", "undelivered": "failed"}
                return SendResult(
                    provider_message_id=message.sid, status=status.get(message.status, "sent")
                )
        return None

    def _verify(self, request) -> dict:
        from twilio.request_validator import RequestValidator

        url = settings.DMS_PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
        params = request.POST.dict()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(self.account.get("auth_token") or "").validate(
            url, params, signature
        ):
            raise ForgedRequest("bad X-Twilio-Signature")
        return params

    def callback_reports(self, request, token: str = "") -> list[StatusReport]:
        params = self._verify(request)
        status = params.get("MessageStatus", "")
        mapped = {"delivered": "delivered", "failed": "failed", "undelivered": "failed"}.get(status)
        if mapped is None:
            return []  # queued / sending / sent: nothing new
        return [
            StatusReport(
                provider_message_id=params.get("MessageSid", ""),
                status=mapped,
                error_code=params.get("ErrorCode", "") if mapped == "failed" else "",
            )
        ]

    def inbound(self, request, token: str = "") -> list[InboundReport]:
        params = self._verify(request)
        return [
            InboundReport(
                sender=params.get("From", ""),
                text=params.get("Body", ""),
                provider_message_id=params.get("MessageSid", ""),
                to=params.get("To", ""),
            )
        ]


# --- WeChat service account (服务号) template messages ----------------------------------------------
WECHAT_TRANSIENT = {-1, 45009, 45047, 45011}
WECHAT_TOKEN_EXPIRED = {40001, 40014, 42001}
# client_msg_id deduplicates a template message for this long (documented: 10 minutes)
WECHAT_DEDUP_SECONDS = 600


class WeChatBackend(Backend):
    """Template messages of a WeChat service account through its documented HTTP API
    (`/cgi-bin/token`, `/cgi-bin/message/template/send` with `client_msg_id` as our
    idempotency key), and the web authorization (网页授权, `snsapi_base`) a customer links
    their WeChat with. Account settings: `app_id`, `app_secret`, `token` (the server-URL token
    WeChat signs its pushes with), optional `base_url` (the API host) and `oauth_base` (the
    authorization page's host). The template's variables are named as the DMS placeholders
    (`{{customer_name.DATA}}`)."""

    provider = "wechat"

    @property
    def _base(self) -> str:
        return (self.account.get("base_url") or "https://api.weixin.qq.com").rstrip("/")

    @property
    def _oauth_base(self) -> str:
        return (self.account.get("oauth_base") or "https://open.weixin.qq.com").rstrip("/")

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """WeChat's authorization page (opened in WeChat's own browser): with `snsapi_base` it
        asks the customer nothing and comes back to `redirect_uri` with `code` and `state`."""
        from urllib.parse import urlencode

        query = urlencode(
            {
                "appid": self.account.get("app_id", ""),
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
            }
        )
        return f"{self._oauth_base}/connect/oauth2/authorize?{query}#wechat_redirect"

    def openid_for_code(self, code: str) -> str:
        """The customer's openid for this account, from the code the authorization page gave
        (`/sns/oauth2/access_token`; a code works once, for 5 minutes). Raises
        `AuthorizationFailed`."""
        import requests

        try:
            answer = requests.get(
                f"{self._base}/sns/oauth2/access_token",
                params={
                    "appid": self.account.get("app_id", ""),
                    "secret": self.account.get("app_secret", ""),
                    "code": code,
                    "grant_type": "authorization_code",
                },
                timeout=10,
            ).json()
        except Exception as exc:
            raise AuthorizationFailed(str(exc)[:300], code="connect") from exc
        if not isinstance(answer, dict):
            raise AuthorizationFailed("unreadable answer", code="answer")
        if answer.get("errcode") not in (None, 0, "0"):
            errcode = str(answer.get("errcode"))
            raise AuthorizationFailed(f"{errcode}: {answer.get('errmsg', '')}"[:300], code=errcode)
        if answer.get("is_snapshotuser") in (1, "1"):
            # a page opened in the "snapshot" mode of Moments gives a stand-in openid
            raise AuthorizationFailed("snapshot user", code="snapshot")
        openid = str(answer.get("openid") or "")
        if not openid:
            raise AuthorizationFailed("no openid in the answer", code="no_openid")
        return openid

    def _access_token(self, *, fresh: bool = False) -> str:
        import requests
        from django.core.cache import cache

        key = f"dms:wechat-token:{self.name}"
        token = None if fresh else cache.get(key)
        if token:
            return token
        try:
            answer = requests.get(
                f"{self._base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.account.get("app_id", ""),
                    "secret": self.account.get("app_secret", ""),
                },
                timeout=10,
            ).json()
        except Exception as exc:
            raise TransientSendError(str(exc)[:300], code="token") from exc
        if "access_token" not in answer:
            code = str(answer.get("errcode", ""))
            raise PermanentSendError(f"{code}: {answer.get('errmsg', '')}"[:300], code=code)
        cache.set(key, answer["access_token"], max(int(answer.get("expires_in", 7200)) - 300, 60))
        return answer["access_token"]

    def send(self, out: Outgoing) -> SendResult:
        import requests

        if not out.provider_template:
            raise PermanentSendError(
                "WeChat needs the template id of this message kind.", code="no_template_code"
            )
        body = {
            "touser": out.to,
            "template_id": out.provider_template,
            "data": {name: {"value": value} for name, value in out.params.items()},
            "client_msg_id": out.key,
        }
        if out.params.get("link"):
            body["url"] = out.params["link"]
        for fresh in (False, True):
            token = self._access_token(fresh=fresh)
            try:
                answer = requests.post(
                    f"{self._base}/cgi-bin/message/template/send",
                    params={"access_token": token},
                    data=json.dumps(body, ensure_ascii=False).encode(),
                    headers={"Content-Type": "application/json"},
                    timeout=10,
                ).json()
            except requests.ConnectionError as exc:
                raise TransientSendError(str(exc)[:300], code="connect") from exc
            except Exception as exc:  # sent, but no (readable) answer
                raise UnknownOutcome(str(exc)[:300]) from exc
            code = int(answer.get("errcode", 0))
            if code == 0:
                return SendResult(provider_message_id=str(answer.get("msgid", "")))
            if code not in WECHAT_TOKEN_EXPIRED:
                break
        text = f"{code}: {answer.get('errmsg', '')}"[:300]
        if code in WECHAT_TRANSIENT:
            raise TransientSendError(text, code=str(code))
        raise PermanentSendError(text, code=str(code))

    def lookup(self, out: Outgoing) -> SendResult | None:
        """WeChat cannot be asked about a message, but drops a second one with the same
        `client_msg_id` for 10 minutes: within them, sending again is safe."""
        age = (timezone.now() - (out.claimed_at or timezone.now())).total_seconds()
        if age < WECHAT_DEDUP_SECONDS - 60:
            return None
        raise LookupUnsupported("wechat")

    def verify(self, request) -> None:
        """The push signature: sha1 of the sorted token, timestamp and nonce."""
        import hashlib

        parts = sorted(
            [
                self.account.get("token") or "",
                request.GET.get("timestamp", ""),
                request.GET.get("nonce", ""),
            ]
        )
        expected = hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324 (WeChat's scheme)
        given = request.GET.get("signature", "")
        if not self.account.get("token") or not hmac.compare_digest(expected, given):
            raise ForgedRequest("bad WeChat signature")

    @staticmethod
    def _xml(request) -> dict:
        from xml.etree import ElementTree

        if not request.body:
            return {}
        root = ElementTree.fromstring(request.body)  # noqa: S314 (signature checked first; no DTDs)
        return {child.tag: (child.text or "") for child in root}

    def callback_reports(self, request, token: str = "") -> list[StatusReport]:
        self.verify(request)
        data = self._xml(request)
        if data.get("MsgType") != "event" or data.get("Event") != "TEMPLATESENDJOBFINISH":
            return []
        status = data.get("Status", "")
        ok = status == "success"
        return [
            StatusReport(
                provider_message_id=data.get("MsgID", ""),
                status="delivered" if ok else "failed",
                error_code="" if ok else status[:64],
            )
        ]

    def inbound(self, request, token: str = "") -> list[InboundReport]:
        self.verify(request)
        data = self._xml(request)
        if data.get("MsgType") != "text":
            return []
        return [
            InboundReport(
                sender=data.get("FromUserName", ""),
                text=data.get("Content", ""),
                provider_message_id=data.get("MsgId", ""),
                to=data.get("ToUserName", ""),
            )
        ]


BACKENDS: dict[str, type[Backend]] = {
    "recording": RecordingBackend,
    "smtp": SmtpBackend,
    "aliyun": AliyunSmsBackend,
    "twilio": TwilioBackend,
    "wechat": WeChatBackend,
}


def backend_for(*, provider: str, account: str = "", sign_name: str = "", sender: str = ""):
    return BACKENDS[provider](
        account=account_settings(account), sign_name=sign_name, sender=sender, name=account
    )
