"""A local WeChat service-account API as documented: `GET /cgi-bin/token` (appid + secret →
access_token, 7200 s), `POST /cgi-bin/message/template/send?access_token=…` (JSON; errcode 0 and
msgid, or 40001 invalid credential, 40003 invalid openid, 40037 invalid template_id,
43004 require subscribe, 45009 api freq out of limit; a repeated `client_msg_id` for the same
openid is dropped), and the pushes it makes to the account's server URL, signed with
signature = sha1(sorted(token, timestamp, nonce)): the TEMPLATESENDJOBFINISH event and text
messages from followers, as XML.

Web authorization (网页授权): `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code
&scope=snsapi_base&state` answers, as WeChat does once the user is in (snsapi_base asks
nothing), with a redirect to `redirect_uri?code=…&state=…` (the code is the `user`'s, valid 5
minutes, once); `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`
gives that user's openid (40029 invalid code, 40163 code been used, 40013/40125 for a wrong
appid/secret)."""

import hashlib
import json
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from .http import ProviderServer


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324


class WeChatServer(ProviderServer):
    def __init__(
        self,
        *,
        app_id="wx-test-app",
        app_secret="wx-secret",
        push_token="wx-push-token",
        templates=(),
        followers=(),
    ):
        super().__init__()
        self.app_id, self.app_secret, self.push_token = app_id, app_secret, push_token
        self.templates = set(templates)
        self.followers = set(followers)
        self.unfollowed: set[str] = set()
        self.blocked: set[str] = set()  # delivery fails: "failed:user block"
        self.tokens: set[str] = set()
        self.sent: list[dict] = []
        self.per_minute = 1000
        self._seen: dict[tuple[str, str], dict] = {}
        # web authorization: the WeChat user on the phone, and the codes handed out
        self.user = "oUSER0000000000000000000001"
        self.codes: dict[str, tuple[str, float]] = {}
        self.used_codes: set[str] = set()
        self.authorized: list[dict] = []

    def _json(self, data: dict):
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(data, ensure_ascii=False).encode(),
        )

    def _err(self, code: int, msg: str):
        return self._json({"errcode": code, "errmsg": f"{msg} rid: {secrets.token_hex(4)}"})

    def _authorize(self, q: dict):
        """WeChat's authorization page: a wrong appid or redirect is an error page; otherwise
        back to the redirect with a fresh code for the current user."""
        if q.get("appid") != self.app_id:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, "appid 参数错误".encode()
        redirect_uri = q.get("redirect_uri", "")
        if (
            not redirect_uri.startswith(("http://", "https://"))
            or q.get("response_type") != "code"
            or q.get("scope") not in ("snsapi_base", "snsapi_userinfo")
        ):
            return (
                200,
                {"Content-Type": "text/html; charset=utf-8"},
                "redirect_uri 参数错误".encode(),
            )
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = (self.user, time.time())
            self.authorized.append({"openid": self.user, **q})
        target = redirect_uri + ("&" if "?" in redirect_uri else "?")
        target += urlencode({"code": code, "state": q.get("state", "")})
        return 302, {"Location": target}, b""

    def _oauth_token(self, q: dict):
        if q.get("appid") != self.app_id:
            return self._err(40013, "invalid appid")
        if q.get("secret") != self.app_secret:
            return self._err(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return self._err(40002, "invalid grant_type")
        code = q.get("code", "")
        with self.lock:
            if code in self.used_codes:
                return self._err(40163, "code been used")
            issued = self.codes.pop(code, None)
            if issued is None or time.time() - issued[1] > 300:
                return self._err(40029, "invalid code")
            self.used_codes.add(code)
        return self._json(
            {
                "access_token": secrets.token_urlsafe(24),
                "expires_in": 7200,
                "refresh_token": secrets.token_urlsafe(24),
                "openid": issued[0],
                "scope": "snsapi_base",
                "is_snapshotuser": 0,
            }
        )

    def handle(self, method, path, headers, body):
        parts = urlsplit(path)
        q = dict(parse_qsl(parts.query))
        if parts.path == "/connect/oauth2/authorize" and method == "GET":
            return self._authorize(q)
        if parts.path == "/sns/oauth2/access_token" and method == "GET":
            return self._oauth_token(q)
        if parts.path == "/cgi-bin/token" and method == "GET":
            if q.get("appid") != self.app_id:
                return self._err(40013, "invalid appid")
            if q.get("secret") != self.app_secret:
                return self._err(40125, "invalid appsecret")
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return self._json({"access_token": token, "expires_in": 7200})
        if parts.path == "/cgi-bin/message/template/send" and method == "POST":
            if q.get("access_token") not in self.tokens:
                return self._err(40001, "invalid credential, access_token is invalid or not latest")
            data = json.loads(body or b"{}")
            openid = data.get("touser", "")
            if data.get("template_id") not in self.templates:
                return self._err(40037, "invalid template_id")
            if openid in self.unfollowed:
                return self._err(43004, "require subscribe")
            if openid not in self.followers:
                return self._err(40003, "invalid openid")
            with self.lock:
                recent = [m for m in self.sent if time.time() - m["at"] < 60]
                if len(recent) >= self.per_minute:
                    return self._err(45009, "reach max api daily quota limit")
                key = (openid, data.get("client_msg_id", ""))
                if key[1] and key in self._seen:  # the same message again: not sent twice
                    return self._json(
                        {"errcode": 0, "errmsg": "ok", "msgid": self._seen[key]["msgid"]}
                    )
                message = {
                    "msgid": int(time.time() * 1000) * 10 + len(self.sent),
                    "openid": openid,
                    "template_id": data["template_id"],
                    "data": data.get("data", {}),
                    "url": data.get("url", ""),
                    "client_msg_id": key[1],
                    "at": time.time(),
                    "reported": False,
                }
                self.sent.append(message)
                if key[1]:
                    self._seen[key] = message
            return self._json({"errcode": 0, "errmsg": "ok", "msgid": message["msgid"]})
        return self._err(40066, "invalid url")

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # --- pushes to the account's server URL --------------------------------------------------
    def _push(self, url: str, xml: str, token: str | None = None):
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        signature = wechat_signature(token or self.push_token, timestamp, nonce)
        query = urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce})
        return requests.post(
            f"{url}?{query}", data=xml.encode(), headers={"Content-Type": "text/xml"}, timeout=10
        )

    def push_job_finished(self, url: str, token: str | None = None) -> list[requests.Response]:
        out = []
        for m in self.sent:
            if m["reported"]:
                continue
            m["reported"] = True
            status = "failed:user block" if m["openid"] in self.blocked else "success"
            out.append(
                self._push(
                    url,
                    f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
                    f"<FromUserName><![CDATA[{m['openid']}]]></FromUserName>"
                    f"<CreateTime>{int(time.time())}</CreateTime>"
                    f"<MsgType><![CDATA[event]]></MsgType>"
                    f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
                    f"<MsgID>{m['msgid']}</MsgID><Status><![CDATA[{status}]]></Status></xml>",
                    token,
                )
            )
        return out

    def push_text(self, url: str, openid: str, text: str, token: str | None = None):
        return self._push(
            url,
            f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{time.time_ns()}</MsgId></xml>",
            token,
        )

    def verify_server(self, url: str, token: str | None = None):
        timestamp, nonce, echo = str(int(time.time())), "n1", secrets.token_hex(6)
        signature = wechat_signature(token or self.push_token, timestamp, nonce)
        answer = requests.get(
            url,
            params={
                "signature": signature,
                "timestamp": timestamp,
                "nonce": nonce,
                "echostr": echo,
            },
            timeout=10,
        )
        return answer, echo

    @property
    def account(self) -> dict:
        return {
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "token": self.push_token,
            "base_url": f"http://127.0.0.1:{self.port}",
            "oauth_base": f"http://127.0.0.1:{self.port}",
        }
