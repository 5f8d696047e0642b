"""The image's `collectstatic` step: every asset a page names is collected, hashed and
compressed under the production settings (a source map a bundle names included)."""

import json
import re

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_collectstatic_passes_under_the_production_settings(collected_static):
    manifest = json.loads((collected_static / "staticfiles.json").read_text())["paths"]
    for name in (
        "vendor/htmx.min.js",
        "vendor/chart.umd.js",
        "vendor/signature_pad.umd.min.js",
        "vendor/Sortable.min.js",
        "admin/css/base.css",
    ):
        assert name in manifest, name
        assert (collected_static / manifest[name]).exists()
        assert (collected_static / (manifest[name] + ".gz")).exists()


def test_every_source_map_a_bundle_names_is_collected_and_rewritten(collected_static):
    manifest = json.loads((collected_static / "staticfiles.json").read_text())["paths"]
    vendored = sorted((ROOT / "static" / "vendor").glob("*.js"))
    named = 0
    for bundle in vendored:
        found = re.search(r"[#@] sourceMappingURL=(\S+)", bundle.read_text())
        if not found:
            continue
        named += 1
        hashed = (collected_static / manifest[f"vendor/{bundle.name}"]).read_text()
        # the comment now names the hashed map, which exists
        target = re.search(r"[#@] sourceMappingURL=(\S+)", hashed).group(1)
        assert target == manifest[f"vendor/{found.group(1)}"].removeprefix("vendor/")
        assert (collected_static / "vendor" / target).exists()
    assert named >= 2  # chart.js and signature_pad ship maps


def test_every_static_file_a_template_names_is_in_the_manifest(collected_static):
    manifest = json.loads((collected_static / "staticfiles.json").read_text())["paths"]
    pattern = re.compile(r"""{%\s*static\s+['"]([^'"]+)['"]""")
    names = set()
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in template.parts or "node_modules" in template.parts:
            continue
        names.update(pattern.findall(template.read_text()))
    assert names
    assert sorted(n for n in names if n not in manifest) == []
