"""A new web process loads its templates, catalogues and connections before its first request
(dms.warmup, called by gunicorn's post_worker_init)."""

import gc
import runpy
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines
from django.urls import URLResolver, clear_url_caches, reverse
from django.utils import translation

from dms import warmup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unfrozen():
    """warm() freezes the test process's objects out of full collections: undone after each
    test, so the rest of the run collects as usual."""
    yield
    gc.unfreeze()


def cached_loader():
    """Django's cached loader (inside django-template-partials' loader)."""
    [partials] = engines["django"].engine.template_loaders
    [cached] = partials.loaders
    return cached


def test_warm_compiles_the_products_templates_and_opens_the_connections():
    loader = cached_loader()
    loader.reset()
    assert "customers/_lookup.html" not in loader.get_template_cache
    done = warmup.warm()
    cached = set(loader.get_template_cache)
    # the project's and the apps' own templates, not the admin's
    assert {"base.html", "customers/_lookup.html", "workshop/board.html"} <= cached
    assert not any(name.startswith("admin/") for name in cached)
    assert done["templates"] == len(cached) > 50
    assert done["languages"] == len(settings.LANGUAGES)
    assert done["database"] is True
    assert done["cache"] is True


def test_warm_freezes_what_the_process_loaded_out_of_full_collections():
    assert gc.get_freeze_count() == 0
    done = warmup.warm()
    # Django, the URLconf, the templates: moved to the permanent generation
    assert done["frozen_objects"] > 10_000
    assert gc.get_freeze_count() > 10_000
    # a full collection now walks only what was made since
    assert len(gc.get_objects(generation=2)) < gc.get_freeze_count() / 4


def test_warm_loads_every_languages_catalogue():
    translation.trans_real._translations.clear()
    warmup.warm()
    loaded = set(translation.trans_real._translations)
    assert {code for code, _name in settings.LANGUAGES} <= {code.lower() for code in loaded}


def test_gunicorn_warms_each_new_process(monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "warm", lambda: calls.append(1) or {"templates": 1})

    class Worker:
        class log:  # gunicorn's worker.log
            @staticmethod
            def info(*args):
                calls.append(args)

    conf = runpy.run_path(str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"))
    conf["post_worker_init"](Worker())
    assert calls[0] == 1
    monkeypatch.setenv("WEB_WARMUP", "0")
    calls.clear()
    conf["post_worker_init"](Worker())
    assert calls == []


def test_after_warm_no_reverse_builds_a_table(monkeypatch):
    """The reverse tables (kept per language, and per namespace in a resolver of their own)
    are built by warm(), not by a request's first reverse into a page or the API."""
    clear_url_caches()
    warmup.warm()
    built = []
    populate = URLResolver._populate
    monkeypatch.setattr(URLResolver, "_populate", lambda self: built.append(self) or populate(self))
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            reverse("customers:lookup")
            reverse("api:call-task-list")
            reverse("workshop:board")
    assert built == []
