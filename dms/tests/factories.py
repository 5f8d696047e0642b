"""Factories for sites and staff, used by every app's tests."""

from datetime import time

import factory
from django.contrib.auth import get_user_model

from dms.models import OpeningHours, Site, StaffRole


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
