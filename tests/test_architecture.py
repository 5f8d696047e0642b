"""What `lint-imports` cannot see: an app naming a model of an app above it by its label
(`apps.get_model("workorders.RepairOrder")`, a lazy relation "workorders.RepairOrder") depends on
that app all the same. The apps above register what a lower app shows of them instead
(`customers.history.register_choices`, its readers)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [  # top first, as in the layers contract: "kpis | portal", "care", …
    [name.strip() for name in layer.split("|")]
    for layer in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ][0]["layers"]
]
BY_LABEL = re.compile(r"""["'](\w+)\.[A-Z]\w*["']""")
# a model's lower-case label ("workorders.repairorder", a content type's app_label.model)
BY_LOWER_LABEL = re.compile(r"""["'](\w+)\.([a-z]+)["']""")
# Named exceptions (where, app label): none. A call task's appointment and repair order live in
# those apps' link tables (docs/architecture.md, "What a call task is about").
KNOWN: set[tuple[str, str]] = set()


def _models() -> set[tuple[str, str]]:
    from django.apps import apps

    return {(m._meta.app_label, m._meta.model_name) for m in apps.get_models()}


MODELS = _models()


def _shipped_modules(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        parts = path.relative_to(ROOT / app).parts
        if "tests" not in parts and "migrations" not in parts:
            yield path


def test_no_app_names_a_model_of_an_app_above_it():
    found = []
    for i, layer in enumerate(LAYERS):
        above = {name for upper in LAYERS[:i] for name in upper}
        for app in layer:
            out_of_reach = above | (set(layer) - {app})  # and its neighbours on the same floor
            for path in _shipped_modules(app):
                where = str(path.relative_to(ROOT))
                text = path.read_text()
                labels = set(BY_LABEL.findall(text)) | {
                    app_label
                    for app_label, model in BY_LOWER_LABEL.findall(text)
                    if (app_label, model) in MODELS
                }
                for label in sorted(labels):
                    if label in out_of_reach and (where, label) not in KNOWN:
                        found.append(f"{where} names a model of {label}")
    assert not found


def test_only_the_outreach_engine_moves_call_tasks():
    """The apps above change a call task's state through `outreach.services` (`task_move`, the
    engine's named operations), never with the engine's transition table themselves."""
    found = [
        str(path.relative_to(ROOT))
        for layer in LAYERS
        for app in layer
        if app != "outreach"
        for path in _shipped_modules(app)
        if re.search(
            r"outreach\.transitions|from outreach import [^\n]*\btransitions\b", path.read_text()
        )
    ]
    assert not found
