"""Webhooks against real local HTTPS servers: Standard Webhooks signature, event filter, retry
with backoff, log; and the outbound rules (public internet only, pinned address, no redirects,
bounded answer, no database lock held while posting)."""

import json
import socket
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import OperationalError
from django.utils import timezone
from standardwebhooks import Webhook

from dms import audit, outbound
from followups import services
from followups.tests.factories import agent, delivered_ro
from outreach import webhooks
from outreach.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from outreach.tests.webhook_server import WebhookReceiver, make_certificate

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    return make_certificate(
        tmp_path_factory.mktemp("tls"), names=("localhost", "hooks.rebind.test")
    )


@pytest.fixture
def local_tls(settings, certificate):
    """Let this test's deliveries reach the loopback TLS listener it starts (test-only setting);
    by default they are refused."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.OUTBOUND_CA_FILE = str(certificate.with_name("listener.crt"))
    return certificate


def _subscribe(site, url, events=(), max_attempts=3, secret="s3cret"):
    return WebhookSubscription.objects.create(
        site=site,
        name="call centre",
        url=url,
        secret=secret,
        events=list(events),
        max_attempts=max_attempts,
    )


def _pending_delivery(site, url, **kwargs):
    sub = _subscribe(site, url, **kwargs)
    webhooks.events_publish(audit.record(subject=delivered_ro(site=site), action="deliver").pk)
    return WebhookDelivery.objects.get(subscription=sub)


def test_followup_event_is_posted_signed(site, local_tls, django_capture_on_commit_callbacks):
    agent(site)
    secret = webhooks.new_secret()
    with WebhookReceiver(certificate=local_tls) as receiver:
        _subscribe(site, receiver.url, events=["call_task"], secret=secret)
        ro = delivered_ro(site=site)
        with django_capture_on_commit_callbacks(execute=True):
            task = services.followup_schedule_for_delivery(repair_order=ro)
        delivery = WebhookDelivery.objects.get()
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    [request] = receiver.received
    body, headers = request["body"], request["headers"]
    # the receiver verifies it as the Standard Webhooks specification says (docs/api.md)
    event = Webhook(secret).verify(body, headers)
    assert headers["webhook-id"] == f"msg_{delivery.pk}"
    assert abs(int(headers["webhook-timestamp"]) - timezone.now().timestamp()) < 300
    assert event["event"] == "call_task.scheduled"
    assert event["subject"] == {"type": "call_task", "id": task.pk}
    assert event["site"] == site.code
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.log[0]["status"] == 204


def test_signature_with_another_secret_or_a_changed_body_does_not_verify(site, local_tls):
    with WebhookReceiver(certificate=local_tls) as receiver:
        delivery = _pending_delivery(site, receiver.url, secret="typed-by-hand")
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    [request] = receiver.received
    assert Webhook(b"typed-by-hand").verify(request["body"], request["headers"])
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(b"another").verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(b"typed-by-hand").verify(request["body"] + b" ", request["headers"])


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hooks",  # not https
        "ftp://93.184.216.34/hooks",
        "https://127.0.0.1:6379/",
        "https://localhost/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/hooks",
        "https://172.16.0.1/hooks",
        "https://192.168.1.1/hooks",
        "https://100.64.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://224.0.0.1/hooks",
        "https://240.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://user:pw@93.184.216.34/hooks",
    ],
)
def test_subscription_to_a_non_public_or_non_https_url_is_refused_when_saved(site, url):
    sub = WebhookSubscription(site=site, name="x", url=url, secret="k")
    with pytest.raises(ValidationError) as caught:
        sub.full_clean()
    assert "url" in caught.value.message_dict


def test_subscription_to_a_public_https_address_is_accepted(site):
    WebhookSubscription(
        site=site, name="oem", url="https://93.184.216.34/hooks", secret="k"
    ).full_clean()


@pytest.mark.parametrize("tls", [True, False])
def test_loopback_listener_receives_no_delivery(site, settings, certificate, tls):
    # given a subscription to a loopback listener that got into the table without the save check
    settings.OUTBOUND_CA_FILE = str(certificate.with_name("listener.crt"))
    settings.OUTBOUND_ALLOW_HTTP = not tls  # even plain http allowed, the address is refused
    with WebhookReceiver(certificate=certificate if tls else None) as receiver:
        delivery = _pending_delivery(site, receiver.url)
        # when it is attempted
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "retry"
    # then nothing reached the listener and the log says why
    assert receiver.received == []
    delivery.refresh_from_db()
    assert "not a public internet address" in delivery.last_error
    assert delivery.last_status_code is None


def test_redirect_is_not_followed(site, local_tls):
    inner = WebhookReceiver(certificate=local_tls)
    with inner, WebhookReceiver(certificate=local_tls, redirect_to=inner.url) as outer:
        delivery = _pending_delivery(site, outer.url)
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "retry"
    assert len(outer.received) == 1
    assert inner.received == []
    delivery.refresh_from_db()
    assert delivery.last_status_code == 307
    assert delivery.status == DeliveryStatus.PENDING


def test_connection_goes_to_the_checked_address_when_the_name_rebinds(
    local_tls, settings, monkeypatch
):
    # given a name that resolves first to an allowed address, then to a refused one, with a
    # listener on each (same port)
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    good = WebhookReceiver(certificate=local_tls, bind="127.0.0.2", host="hooks.rebind.test")
    internal = WebhookReceiver(certificate=local_tls, port=good.port)
    with good, internal:
        answers = iter(["127.0.0.2", "127.0.0.1"])
        real = socket.getaddrinfo

        def rebinding(host, port, *args, **kwargs):
            if host == "hooks.rebind.test":
                return real(next(answers), port, *args, **kwargs)
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        # when a request is made: the name is resolved once, checked, and that address used
        answer = outbound.post(good.url, body=b"{}", headers={})
        # and the next request resolves anew, to the refused address, and is not made
        again = outbound.post(good.url, body=b"{}", headers={})
    # then the checked listener got the first, by name (SNI, certificate, Host)
    assert answer.status == 204, answer.error
    assert [r["headers"]["host"] for r in good.received] == [f"hooks.rebind.test:{good.port}"]
    assert again.status is None
    assert "not a public internet address" in again.error
    assert internal.received == []


def test_answer_is_read_up_to_the_size_limit(local_tls):
    with WebhookReceiver(certificate=local_tls, answer_bytes=3 * 1024 * 1024) as receiver:
        answer = outbound.post(receiver.url, body=b"{}", headers={})
    assert answer.status == 200
    assert len(answer.body) == outbound.MAX_RESPONSE_BYTES


def test_a_listener_that_never_answers_ends_as_a_timeout(local_tls):
    # a TCP listener that accepts and never answers
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        answer = outbound.post(
            f"https://localhost:{server.getsockname()[1]}/", body=b"{}", headers={}, timeout=0.5
        )
    finally:
        server.close()
    assert answer.status is None
    assert "timed out" in answer.error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_post_is_made_with_no_row_lock_or_transaction_held(local_tls):
    from dms.tests.factories import SiteFactory

    site = SiteFactory()
    seen = []
    with WebhookReceiver(certificate=local_tls) as receiver:
        delivery = _pending_delivery(site, receiver.url)

        def while_posting(_headers):
            # another connection can lock the delivery row while the POST is in flight
            def probe():
                try:
                    with transaction.atomic():
                        WebhookDelivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
                    seen.append("free")
                except OperationalError:
                    seen.append("locked")
                finally:
                    connection.close()

            thread = threading.Thread(target=probe)
            thread.start()
            thread.join()

        receiver.on_request = while_posting
        assert webhooks.delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert seen == ["free"]


def test_filter_skips_events_not_subscribed(site, django_capture_on_commit_callbacks):
    _subscribe(site, "https://127.0.0.1:9/", events=["complaint"])
    with django_capture_on_commit_callbacks(execute=True):
        services.followup_schedule_for_delivery(repair_order=delivered_ro(site=site))
    assert not WebhookDelivery.objects.exists()


def test_other_sites_events_are_not_sent(site, django_capture_on_commit_callbacks):
    from dms.tests.factories import SiteFactory

    _subscribe(SiteFactory(), "https://127.0.0.1:9/")
    with django_capture_on_commit_callbacks(execute=True):
        services.followup_schedule_for_delivery(repair_order=delivered_ro(site=site))
    assert not WebhookDelivery.objects.exists()


def test_failed_delivery_is_retried_with_growing_backoff_then_succeeds(site, local_tls):
    with WebhookReceiver(fail_first=2, certificate=local_tls) as receiver:
        sub = _subscribe(site, receiver.url, max_attempts=5)
        ro = delivered_ro(site=site)
        entry = audit.record(
            subject=ro, action="deliver", from_state="invoiced", to_state="delivered"
        )
        webhooks.events_publish(entry.pk)
        delivery = WebhookDelivery.objects.get(subscription=sub)
        t0 = timezone.now()
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0) == "retry"
        delivery.refresh_from_db()
        first_wait = delivery.next_attempt_at - t0
        # not yet due: nothing is sent
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0) == "skipped"
        t1 = delivery.next_attempt_at
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t1) == "retry"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at - t1 == 2 * first_wait
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at) == (
            "delivered"
        )
    delivery.refresh_from_db()
    assert [a["status"] for a in delivery.log] == [500, 500, 204]
    assert len(receiver.received) == 3
    # every attempt carried the same signed body
    assert len({r["body"] for r in receiver.received}) == 1
    assert json.loads(receiver.received[0]["body"])["event"] == "repair_order.deliver"


def test_unreachable_endpoint_fails_after_max_attempts(site, local_tls):
    sub = _subscribe(site, "https://127.0.0.1:9/nothing-listens", max_attempts=2)
    ro = delivered_ro(site=site)
    webhooks.events_publish(audit.record(subject=ro, action="deliver").pk)
    delivery = WebhookDelivery.objects.get(subscription=sub)
    now = timezone.now()
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=now) == "retry"
    later = now + timedelta(hours=1)
    assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=later) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 2
    assert delivery.last_error


def test_publishing_an_event_twice_creates_one_delivery(site):
    _subscribe(site, "https://127.0.0.1:9/")
    entry = audit.record(subject=delivered_ro(site=site), action="deliver")
    webhooks.events_publish(entry.pk)
    webhooks.events_publish(entry.pk)
    assert WebhookDelivery.objects.count() == 1


def test_admin_refuses_an_internal_url_and_offers_a_generated_secret(
    site, client, django_user_model
):
    from django.urls import reverse

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    url = reverse(f"admin:{WebhookSubscription._meta.app_label}_webhooksubscription_add")
    page = client.get(url).content.decode()
    assert 'value="whsec_' in page
    response = client.post(
        url,
        {
            "site": site.pk,
            "name": "cache",
            "url": "https://127.0.0.1:6379/",
            "active": "on",
            "events": "[]",
            "secret": webhooks.new_secret(),
            "max_attempts": 8,
        },
    )
    assert response.status_code == 200
    assert "not a public internet address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_an_event_of_a_site_without_a_subscription_costs_one_small_read(
    site, django_assert_num_queries
):
    # given an active subscription at another site and an inactive one at this site
    from dms.tests.factories import SiteFactory

    _subscribe(SiteFactory(), "https://127.0.0.1:9/")
    _subscribe(site, "https://127.0.0.1:9/")
    WebhookSubscription.objects.filter(site=site).update(active=False)
    entry = audit.record(subject=delivered_ro(site=site), action="deliver")
    # when the event is published, then one query reads this site's active subscriptions by
    # the entry's site (the entry itself, with its type, site and actor, is not read)
    with django_assert_num_queries(1):
        assert webhooks.events_publish(entry.pk) == []
    assert not WebhookDelivery.objects.exists()
    # and once the site's subscription is active again the same entry is delivered
    WebhookSubscription.objects.filter(site=site).update(active=True)
    assert len(webhooks.events_publish(entry.pk)) == 1
    assert WebhookDelivery.objects.get().subscription.site == site
