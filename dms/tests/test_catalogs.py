"""The Chinese catalogs: complete, not fuzzy, and never two translations of one English string
(Django merges all catalogs into one, so one of the two would show on every page)."""

import textwrap

from dms.management.commands.check_catalogs import catalogs, not_compiled, problems


def test_every_catalog_is_complete_and_consistent():
    found = problems()
    assert found == {"untranslated": [], "fuzzy": [], "conflicting": []}, "\n".join(
        f"{kind}: {line}" for kind, lines in found.items() for line in lines
    )


def test_the_check_finds_each_kind_of_problem(tmp_path):
    # given two catalogs: one translates "closed" as a day off, the other as a closed case,
    # one entry untranslated, one fuzzy; and the same word in a context of its own
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    a = tmp_path / "a" / "django.po"
    b = tmp_path / "b" / "django.po"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text(
        header
        + textwrap.dedent(
            """\
            msgid "closed"
            msgstr "休息"

            msgid "Search"
            msgstr ""

            #, fuzzy
            msgid "Parts"
            msgstr "配件"
            """
        ),
        encoding="utf-8",
    )
    b.write_text(
        header
        + textwrap.dedent(
            """\
            msgid "closed"
            msgstr "已结案"

            msgctxt "complaint"
            msgid "Opened"
            msgstr "立案时间"
            """
        ),
        encoding="utf-8",
    )
    # when they are checked
    found = problems([a, b])
    # then each problem is named
    assert len(found["untranslated"]) == 1
    assert "'Search'" in found["untranslated"][0]
    assert len(found["fuzzy"]) == 1
    assert "'Parts'" in found["fuzzy"][0]
    assert len(found["conflicting"]) == 1
    assert "'closed'" in found["conflicting"][0]
    assert "休息" in found["conflicting"][0]


def test_every_app_catalog_is_checked():
    names = {str(p).split("/locale/")[0].rsplit("/", 1)[-1] for p in catalogs()}
    assert {"appointments", "customers", "workorders", "followups"} <= names


def test_the_check_finds_a_catalog_not_compiled_since_it_changed(tmp_path):
    import polib

    # given a catalog with a menu word in its context, compiled
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgctxt "menu"\nmsgid "Care"\nmsgstr "主动关怀"\n',
        encoding="utf-8",
    )
    assert not_compiled([po]) == [f"{po}: not compiled"]
    polib.pofile(str(po)).save_as_mofile(str(po.with_suffix(".mo")))
    assert not_compiled([po]) == []
    # when a translation is added to the .po and not compiled
    with po.open("a", encoding="utf-8") as f:
        f.write('\nmsgctxt "menu"\nmsgid "Customers"\nmsgstr "客户车辆"\n')
    # then the catalog is named: the page would show "Customers" in English
    assert not_compiled([po]) == [f"{po}: 1 translation(s) not in django.mo"]
