import io

import pytest
from openpyxl import Workbook

from customers import imports
from customers.models import Customer, ImportBatch, Vehicle
from customers.tests.factories import CustomerFactory, VehicleFactory, make_vin
from dms.models import Role

pytestmark = pytest.mark.django_db


def csv_bytes(rows):
    return "\n".join(",".join(r) for r in rows).encode("utf-8")


GOOD = [
    ["姓名", "手机", "车架号", "车牌号", "品牌", "车型", "购车日期", "里程"],
    ["张伟", "13800000001", make_vin(1), "沪A11111", "大众", "朗逸", "2023-05-01", "12000"],
    ["张伟", "138 0000 0001", make_vin(2), "沪AD22222", "比亚迪", "秦PLUS", "2024/01/10", ""],
    ["李娜", "13800000002", "", "", "", "", "", ""],
]


def test_clean_csv_preview_then_apply(site, make_user):
    manager = make_user(Role.MANAGER)
    batch = imports.import_check(
        site=site, actor=manager, filename="a.csv", content=csv_bytes(GOOD)
    )
    assert batch.status == ImportBatch.Status.CHECKED
    assert batch.errors == []
    assert len(batch.rows) == 3
    assert Customer.objects.count() == 0  # preview saves nothing
    batch = imports.import_apply(batch_id=batch.pk, actor=manager)
    assert batch.status == ImportBatch.Status.APPLIED
    assert batch.result == {"customers": 2, "vehicles": 2, "existing_customers": 0}
    zhang = Customer.objects.get(name="张伟")
    assert sorted(zhang.vehicles.values_list("plate", flat=True)) == ["沪A11111", "沪AD22222"]
    # confirming twice changes nothing
    imports.import_apply(batch_id=batch.pk, actor=manager)
    assert Vehicle.objects.count() == 2


def test_bad_file_reported_row_by_row_and_nothing_saved(site, make_user):
    VehicleFactory(owner=CustomerFactory(site=site, name="老客户"), plate="沪B00001")
    bad_vin = make_vin(3)[:8] + ("1" if make_vin(3)[8] != "1" else "2") + make_vin(3)[9:]
    rows = [
        GOOD[0],
        GOOD[1],  # fine
        ["", "12345", make_vin(4), "沪B00001", "", "", "2023-13-01", "abc"],
        ["王五", "13800000005", bad_vin, "沪A1", "", "", "", ""],
        ["赵六", "13800000006", make_vin(1), "沪A11111", "", "", "", ""],
    ]
    batch = imports.import_check(
        site=site, actor=make_user(Role.MANAGER), filename="bad.csv", content=csv_bytes(rows)
    )
    assert batch.status == ImportBatch.Status.INVALID
    report = {(e["row"], e["field"]) for e in batch.errors}
    assert {
        (3, "name"),
        (3, "phone"),
        (3, "plate"),
        (3, "purchase_date"),
        (3, "mileage_km"),
    } <= report
    assert {(4, "vin"), (4, "plate"), (5, "vin"), (5, "plate")} <= report
    plate_msg = next(e["message"] for e in batch.errors if e["row"] == 3 and e["field"] == "plate")
    assert plate_msg == "Plate 沪B00001 is already on vehicle 沪B00001 (老客户)."
    assert (2, "vin") not in report
    with pytest.raises(Exception, match="has errors"):
        imports.import_apply(batch_id=batch.pk, actor=None)
    assert Customer.objects.count() == 1  # only the one that was there before
    assert Vehicle.objects.count() == 1


def test_apply_rechecks_and_rolls_back_everything(site, make_user):
    batch = imports.import_check(site=site, actor=None, filename="a.csv", content=csv_bytes(GOOD))
    # meanwhile someone registers the plate of the second row
    VehicleFactory(owner__site=site, plate="沪AD22222")
    batch = imports.import_apply(batch_id=batch.pk, actor=None)
    assert batch.status == ImportBatch.Status.INVALID
    assert batch.errors[0]["row"] == 3
    assert not Customer.objects.filter(name="张伟").exists()


def test_xlsx_with_dates(site):
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "phone", "vin", "plate", "purchase_date", "year"])
    from datetime import datetime

    ws.append(["Mary Chen", "+852 9123 4567", make_vin(9), "粤B12345F", datetime(2022, 3, 4), 2022])
    buf = io.BytesIO()
    wb.save(buf)
    batch = imports.import_check(site=site, actor=None, filename="x.xlsx", content=buf.getvalue())
    assert batch.errors == []
    imports.import_apply(batch_id=batch.pk, actor=None)
    v = Vehicle.objects.get()
    assert (v.plate, str(v.purchase_date), v.owner.phone) == (
        "粤B12345F",
        "2022-03-04",
        "+85291234567",
    )


def test_unknown_columns_and_wrong_type(site):
    batch = imports.import_check(
        site=site, actor=None, filename="a.csv", content=csv_bytes([["foo", "bar"], ["1", "2"]])
    )
    messages = [e["message"] for e in batch.errors]
    assert "Unknown column “foo”." in messages
    assert any("name and phone are required" in m for m in messages)
    from dms.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match=r"\.csv or \.xlsx"):
        imports.import_check(site=site, actor=None, filename="a.pdf", content=b"x")


def test_api_import_all_or_nothing(api_as, site):
    from django.core.files.uploadedfile import SimpleUploadedFile

    api = api_as(Role.MANAGER)
    bad = csv_bytes([*GOOD, ["", "1", "", "", "", "", "", ""]])
    r = api.post(
        "/api/v1/customers/import/",
        {"file": SimpleUploadedFile("a.csv", bad), "dry_run": "false"},
        format="multipart",
    )
    assert r.status_code == 400
    assert "nothing was saved" in r.json()["message"]
    assert {e["row"] for e in r.json()["errors"]} == {5}
    assert Customer.objects.count() == 0
    r = api.post(
        "/api/v1/customers/import/",
        {"file": SimpleUploadedFile("a.csv", csv_bytes(GOOD)), "dry_run": "false"},
        format="multipart",
    )
    assert r.status_code == 200
    assert r.json()["status"] == "applied"
    assert Customer.objects.count() == 2
    assert api_as(Role.ADVISOR).post("/api/v1/customers/import/", {}).status_code == 403
