"""`manage.py check_catalogs`: the Chinese catalogs are complete and agree with each other.

Django merges every app's catalog (and LOCALE_PATHS) into one: when two catalogs translate the
same English msgid (in the same msgctxt) differently, one translation wins on every page, so the
other app shows the wrong Chinese ("closed" as a day off on the complaints tile). Such words need
a context (`pgettext`). This command lists, for each catalog, the untranslated and fuzzy entries,
and the msgids two catalogs translate differently; it exits 1 if there are any. It also names
the catalogs whose compiled django.mo lacks translations of its django.po: pages show those
strings in English until `manage.py compilemessages` runs (the .mo files are not tracked).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SKIP = {".venv", "node_modules", ".git", "var", "build"}


def catalogs(lang: str = "zh_Hans") -> list[Path]:
    """Every django.po of the language in the project (apps and LOCALE_PATHS)."""
    root = Path(settings.BASE_DIR)
    found = []
    for path in sorted(root.rglob(f"locale/{lang}/LC_MESSAGES/django.po")):
        if not SKIP.intersection(path.relative_to(root).parts):
            found.append(path)
    return found


def problems(paths: list[Path] | None = None) -> dict[str, list[str]]:
    """{"untranslated": […], "fuzzy": […], "conflicting": […]}, each a readable line."""
    import polib

    root = Path(settings.BASE_DIR)
    out: dict[str, list[str]] = {"untranslated": [], "fuzzy": [], "conflicting": []}
    seen: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in paths or catalogs():
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        for entry in polib.pofile(str(path)):
            if entry.obsolete:
                continue
            label = f"{name}: {entry.msgctxt + ' | ' if entry.msgctxt else ''}{entry.msgid!r}"
            if "fuzzy" in entry.flags:
                out["fuzzy"].append(label)
                continue
            if not entry.translated():
                out["untranslated"].append(label)
                continue
            key = (entry.msgctxt or "", entry.msgid)
            translation = entry.msgstr or "|".join(
                entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural)
            )
            seen[key][translation].append(name)
    for (ctx, msgid), translations in sorted(seen.items()):
        if len(translations) > 1:
            versions = "; ".join(
                f"{t!r} in {', '.join(names)}" for t, names in sorted(translations.items())
            )
            out["conflicting"].append(f"{ctx + ' | ' if ctx else ''}{msgid!r}: {versions}")
    return out


def not_compiled(paths: list[Path] | None = None) -> list[str]:
    """The catalogs whose django.mo is missing or lacks translations their django.po has."""
    import polib

    root = Path(settings.BASE_DIR)
    out = []
    for path in paths or catalogs():
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        compiled = path.with_suffix(".mo")
        if not compiled.exists():
            out.append(f"{name}: not compiled")
            continue
        have = {
            (e.msgctxt or "", e.msgid): (e.msgstr, e.msgstr_plural)
            for e in polib.mofile(str(compiled))
        }
        missing = 0
        for entry in polib.pofile(str(path)):
            if entry.obsolete or "fuzzy" in entry.flags or not entry.translated():
                continue
            msgstr, plural = have.get((entry.msgctxt or "", entry.msgid), (None, None))
            if entry.msgid_plural:
                wanted = {int(k): v for k, v in entry.msgstr_plural.items()}
                missing += {int(k): v for k, v in (plural or {}).items()} != wanted
            else:
                missing += msgstr != entry.msgstr
        if missing:
            out.append(f"{name}: {missing} translation(s) not in django.mo")
    return out


class Command(BaseCommand):
    help = "List untranslated, fuzzy and conflicting entries of the zh_Hans catalogs."

    def handle(self, *args, **options):
        found = problems()
        total = 0
        for kind, lines in found.items():
            if lines:
                self.stdout.write(f"{kind} ({len(lines)}):")
                for line in lines:
                    self.stdout.write(f"  {line}")
                total += len(lines)
        stale = not_compiled()
        if stale:
            self.stdout.write(
                f"not compiled, shown in English (run compilemessages) ({len(stale)}):"
            )
            for line in stale:
                self.stdout.write(f"  {line}")
            total += len(stale)
        if total:
            raise CommandError(f"{total} catalog problems")
        self.stdout.write("catalogs complete and consistent")
