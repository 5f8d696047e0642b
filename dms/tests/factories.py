"""Factories for sites and staff, used by every app's tests."""

from datetime import UTC, datetime, time

import factory
from django.contrib.auth import get_user_model

from dms.models import OpeningHours, Site, StaffRole


def morning_time_zone(now: datetime | None = None) -> str:
    """A fixed-offset IANA zone (``Etc/GMT±N``) where it is between 09:00 and 10:00 now.

    Tests that walk a whole visit through today (book a slot later today, check in, deliver)
    give their site this zone so they run the same at any hour of the machine's clock: in the
    site's own zone a full working day is still ahead. ``Etc/GMT-8`` is UTC+8 (the sign is
    inverted in these names)."""
    hour = (now or datetime.now(UTC)).astimezone(UTC).hour
    offset = 9 - hour  # local hour = UTC hour + offset
    if offset < -12:
        offset += 24
    if offset > 14:
        offset -= 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"site{n}")
    name = factory.Sequence(lambda n: f"Test 4S {n}")

    @factory.post_generation
    def hours(self, create, extracted, **kwargs):
        if not create:
            return
        # Monday–Saturday 08:30–17:30, Sunday closed, unless told otherwise.
        for weekday in extracted if extracted is not None else range(6):
            OpeningHours.objects.create(
                site=self, weekday=weekday, opens=time(8, 30), closes=time(17, 30)
            )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw-test-123")


def make_staff(*, role: str | None, site: Site, username: str | None = None, **kwargs):
    user = UserFactory(**({"username": username} if username else {}), **kwargs)
    if role:
        StaffRole.objects.get_or_create(user=user, site=site, role=role)
    return user
