"""A local Alibaba Cloud SMS (dysmsapi 2017-05-25) that speaks the documented API: RPC actions
over HTTP POST signed with ACS3-HMAC-SHA256 (Authorization header, canonical request of method,
path, sorted query, signed headers and the payload hash), JSON answers with Code/Message/
RequestId, its error codes (SignatureDoesNotMatch, InvalidAccessKeyId.NotFound,
isv.MOBILE_NUMBER_ILLEGAL, isv.SMS_SIGNATURE_ILLEGAL, isv.SMS_TEMPLATE_ILLEGAL,
isv.TEMPLATE_MISSING_PARAMETERS, isv.BUSINESS_LIMIT_CONTROL, Throttling.User), SendSms with
OutId, QuerySendDetails, and the HTTP batch pushes of receipts (SmsReport) and replies (SmsUp).
"""

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import datetime
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from .http import ProviderServer


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(pairs))


class AliyunSmsServer(ProviderServer):
    def __init__(
        self,
        *,
        access_key_id="LTAI-test",
        access_key_secret="secret-test",
        sign_names=("某某汽车",),
        templates=None,
        per_second=100,
        per_number_per_minute=100,
    ):
        super().__init__()
        self.keys = {access_key_id: access_key_secret}
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.sign_names = set(sign_names)
        # template code → its text with ${name} variables, as approved by the provider
        self.templates = templates or {}
        self.per_second, self.per_number_per_minute = per_second, per_number_per_minute
        self.sent: list[dict] = []  # what reached "handsets"
        self.requests: list[dict] = []  # every SendSms accepted (incl. duplicates)
        self.refused: list[tuple[str, str]] = []  # (action, code)
        self.undeliverable: set[str] = set()  # numbers whose receipt says failed
        self.hold = threading.Event()  # while set, SendSms records and then waits
        self.held = threading.Event()  # set when a held request arrived
        self._calls: list[float] = []

    # --- the API -------------------------------------------------------------------------------
    def _error(self, status: int, code: str, message: str):
        return (
            status,
            {"Content-Type": "application/json;charset=utf-8"},
            json.dumps(
                {"Code": code, "Message": message, "RequestId": uuid.uuid4().hex.upper()}
            ).encode(),
        )

    def _ok(self, data: dict):
        data = {"RequestId": uuid.uuid4().hex.upper(), **data}
        return (
            200,
            {"Content-Type": "application/json;charset=utf-8"},
            json.dumps(data, ensure_ascii=False).encode(),
        )

    def _verify(self, method, path, headers, body) -> str | None:
        """The ACS3-HMAC-SHA256 check; returns an error code or None."""
        auth = headers.get("Authorization", "")
        match = re.fullmatch(
            r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)",
            auth,
        )
        if not match:
            return "IncompleteSignature"
        key_id, signed, signature = match.groups()
        secret = self.keys.get(key_id)
        if secret is None:
            return "InvalidAccessKeyId.NotFound"
        if hashlib.sha256(body).hexdigest() != headers.get("x-acs-content-sha256", ""):
            return "SignatureDoesNotMatch"
        parts = urlsplit(path)
        names = signed.split(";")
        canonical_headers = "".join(f"{n}:{(headers.get(n) or '').strip()}\n" for n in names)
        canonical = "\n".join(
            [
                method,
                parts.path or "/",
                _canonical_query(parse_qsl(parts.query, keep_blank_values=True)),
                canonical_headers,
                signed,
                headers.get("x-acs-content-sha256", ""),
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, signature) else "SignatureDoesNotMatch"

    def handle(self, method, path, headers, body):
        error = self._verify(method, path, headers, body)
        if error:
            self.refused.append(("auth", error))
            status = 404 if error == "InvalidAccessKeyId.NotFound" else 400
            return self._error(status, error, "Specified signature does not match.")
        params = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        params.update(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        action = headers.get("x-acs-action", "")
        with self.lock:
            now = time.monotonic()
            self._calls = [t for t in self._calls if now - t < 1]
            if len(self._calls) >= self.per_second:
                self.refused.append((action, "Throttling.User"))
                return self._error(
                    400, "Throttling.User", "Request was denied due to user flow control."
                )
            self._calls.append(now)
        if action == "SendSms":
            return self._send(params)
        if action == "QuerySendDetails":
            return self._query(params)
        return self._error(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")

    def _send(self, p: dict):
        phone = p.get("PhoneNumbers", "")
        code = None
        if not re.fullmatch(r"1[3-9]\d{9}", phone):
            code = "isv.MOBILE_NUMBER_ILLEGAL"
        elif p.get("SignName") not in self.sign_names:
            code = "isv.SMS_SIGNATURE_ILLEGAL"
        elif p.get("TemplateCode") not in self.templates:
            code = "isv.SMS_TEMPLATE_ILLEGAL"
        if code:
            self.refused.append(("SendSms", code))
            return self._ok({"Code": code, "Message": code})
        text = self.templates[p["TemplateCode"]]
        values = json.loads(p.get("TemplateParam") or "{}")
        needed = re.findall(r"\$\{(\w+)\}", text)
        if any(n not in values for n in needed):
            self.refused.append(("SendSms", "isv.TEMPLATE_MISSING_PARAMETERS"))
            return self._ok({"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "missing"})
        with self.lock:
            minute = [m for m in self.sent if m["phone"] == phone and time.time() - m["at"] < 60]
            if len(minute) >= self.per_number_per_minute:
                self.refused.append(("SendSms", "isv.BUSINESS_LIMIT_CONTROL"))
                return self._ok(
                    {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
                )
            content = f"【{p['SignName']}】" + re.sub(
                r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text
            )
            message = {
                "biz_id": f"{int(time.time() * 1000)}^{len(self.sent)}",
                "out_id": p.get("OutId", ""),
                "phone": phone,
                "content": content,
                "template_code": p["TemplateCode"],
                "at": time.time(),
                "send_date": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                "status": 1,  # 1 waiting for receipt, 2 failed, 3 delivered
                "reported": False,
            }
            self.sent.append(message)
            self.requests.append(message)
        if self.hold.is_set():
            self.held.set()
            while self.hold.is_set():  # the caller dies while we "think"
                time.sleep(0.05)
        return self._ok({"Code": "OK", "Message": "OK", "BizId": message["biz_id"]})

    def _query(self, p: dict):
        phone, day = p.get("PhoneNumber", ""), p.get("SendDate", "")
        rows = [
            {
                "PhoneNum": m["phone"],
                "SendStatus": m["status"],
                "ErrCode": "DELIVERED" if m["status"] == 3 else "",
                "TemplateCode": m["template_code"],
                "Content": m["content"],
                "SendDate": m["send_date"],
                "ReceiveDate": m["send_date"] if m["status"] == 3 else "",
                "OutId": m["out_id"],
            }
            for m in self.sent
            if m["phone"] == phone and m["send_date"][:10].replace("-", "") == day
        ]
        return self._ok(
            {
                "Code": "OK",
                "Message": "OK",
                "TotalCount": len(rows),
                "SmsSendDetailDTOs": {"SmsSendDetailDTO": rows},
            }
        )

    # --- what the provider pushes --------------------------------------------------------------
    def push_receipts(self, url: str) -> requests.Response | None:
        """SmsReport: the receipts of every message not yet reported, as one JSON batch."""
        batch = []
        with self.lock:
            for m in self.sent:
                if m["reported"]:
                    continue
                ok = m["phone"] not in self.undeliverable
                m["status"], m["reported"] = (3 if ok else 2), True
                batch.append(
                    {
                        "phone_number": m["phone"],
                        "send_time": m["send_date"],
                        "report_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                        "success": ok,
                        "err_code": "DELIVERED" if ok else "MK:0001",
                        "err_msg": "用户接收成功" if ok else "号码停机",
                        "sms_size": "1",
                        "biz_id": m["biz_id"],
                        "out_id": m["out_id"],
                    }
                )
        if not batch:
            return None
        return requests.post(url, json=batch, timeout=10)

    def push_reply(self, url: str, phone: str, text: str) -> requests.Response:
        """SmsUp: a customer's reply to the site's signature."""
        return requests.post(
            url,
            json=[
                {
                    "phone_number": phone,
                    "send_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                    "content": text,
                    "sign_name": next(iter(self.sign_names)),
                    "dest_code": "1234",
                    "sequence_id": int(time.time() * 1000) + len(text),
                }
            ],
            timeout=10,
        )

    @property
    def account(self) -> dict:
        return {
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "endpoint": f"127.0.0.1:{self.port}",
            "protocol": "http",
            "callback_token": "cb-token-test",
        }
