"""Importing customers and vehicles from CSV or XLSX: check row by row, then all or nothing.

One row is a customer and (optionally) one of their vehicles. Rows with the same phone are the
same customer; a phone already in the archive attaches the vehicle to that customer. Headers may
be English or Chinese (see COLUMNS). A wrong VIN check digit is an error in a file unless the
row says so in `vin_check_ok` = no/否 (the dealer compared it with the car).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dms import audit
from dms.exceptions import ApplicationError
from dms.models import Site

from . import services, validators
from .models import Customer, ImportBatch, Vehicle

MAX_ROWS = 5000

# field: accepted headers (lower case)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "customer", "姓名", "客户", "客户名称", "客户姓名"),
    "phone": ("phone", "mobile", "电话", "手机", "手机号", "联系电话"),
    "phone2": ("phone2", "second phone", "备用电话", "电话2"),
    "email": ("email", "e-mail", "邮箱", "电子邮件"),
    "address": ("address", "地址"),
    "kind": ("kind", "类型", "客户类型"),
    "birthday": ("birthday", "生日"),
    "notes": ("notes", "备注"),
    "vin": ("vin", "车架号", "vin码", "车辆识别代号"),
    "plate": ("plate", "车牌", "车牌号"),
    "engine_number": ("engine_number", "engine number", "发动机号"),
    "make": ("make", "品牌"),
    "model": ("model", "车型"),
    "year": ("year", "年份", "年款"),
    "colour": ("colour", "color", "颜色"),
    "purchase_date": ("purchase_date", "purchase date", "购车日期", "购买日期"),
    "sold_by_site": ("sold_by_site", "sold here", "本店销售"),
    "warranty_end": ("warranty_end", "warranty until", "保修截止", "保修到期"),
    "mileage_km": ("mileage_km", "mileage", "里程", "当前里程"),
    "next_service_due_date": ("next_service_due_date", "next service", "下次保养日期"),
    "next_service_due_km": ("next_service_due_km", "next service km", "下次保养里程"),
    "insurance_renewal_date": ("insurance_renewal_date", "insurance renewal", "保险到期"),
    "annual_inspection_date": ("annual_inspection_date", "annual inspection", "年检日期"),
    "vin_check_ok": ("vin_check_ok", "vin checked", "车架号已核对"),
}
CUSTOMER_KEYS = ("name", "phone", "phone2", "email", "address", "kind", "birthday", "notes")
# the vehicle's editable fields (services.VEHICLE_FIELDS, the one list) that a file can hold
VEHICLE_KEYS = tuple(f for f in services.VEHICLE_FIELDS if f in COLUMNS)
DATE_KEYS = {
    "birthday",
    "purchase_date",
    "warranty_end",
    "next_service_due_date",
    "insurance_renewal_date",
    "annual_inspection_date",
}
INT_KEYS = {"year", "mileage_km", "next_service_due_km"}
BOOL_KEYS = {"sold_by_site", "vin_check_ok"}
KINDS = {
    "person": "person",
    "个人": "person",
    "company": "company",
    "公司": "company",
    "单位": "company",
}
TRUE = {"1", "true", "yes", "y", "是", "对", "x", "✓"}
FALSE = {"0", "false", "no", "n", "否", "", "-"}


# --- reading files ---------------------------------------------------------------------------
def read_table(filename: str, content: bytes) -> list[list[Any]]:
    """The file's rows (header first) as lists of cell values."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:
            raise ApplicationError(
                _("This is not a readable XLSX file."), fields={"file": _("Unreadable file.")}
            ) from exc
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    if name.endswith(".csv") or name.endswith(".txt"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ApplicationError(
                _("The CSV file is neither UTF-8 nor GB18030 text."),
                fields={"file": _("Unreadable file.")},
            )
        try:
            dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return list(csv.reader(io.StringIO(text), dialect))
    raise ApplicationError(
        _("Upload a .csv or .xlsx file."), fields={"file": _("Upload a .csv or .xlsx file.")}
    )


def _header_map(header: list[Any]) -> tuple[dict[int, str], list[str]]:
    lookup = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
    mapping, unknown = {}, []
    for i, cell in enumerate(header):
        label = str(cell or "").strip().lower()
        if not label:
            continue
        key = lookup.get(label)
        if key:
            mapping[i] = key
        else:
            unknown.append(str(cell))
    return mapping, unknown


def _cell(value: Any, key: str) -> Any:
    if value is None:
        return None
    if key in DATE_KEYS:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value).strip()
        if not text:
            return None
        for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%d.%m.%Y"):
            try:
                return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
            except ValueError:
                continue
        raise ValueError(_("“%(v)s” is not a date (use YYYY-MM-DD).") % {"v": text})
    if key in INT_KEYS:
        if isinstance(value, int | float):
            return int(value)
        text = str(value).strip().replace(",", "").replace("km", "").strip()
        if not text:
            return None
        try:
            return int(float(text))
        except ValueError:
            raise ValueError(_("“%(v)s” is not a number.") % {"v": value}) from None
    if key in BOOL_KEYS:
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError(_("“%(v)s” is not yes or no.") % {"v": value})
    text = str(value).strip()
    if key == "kind":
        if not text:
            return None
        if text.lower() not in KINDS:
            raise ValueError(_("Kind is person/个人 or company/公司."))
        return KINDS[text.lower()]
    return text


# --- checking --------------------------------------------------------------------------------
def _check_rows(site: Site, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every problem of every row, as {row, field, message}. Reads only."""
    errors: list[dict[str, Any]] = []
    seen_vin: dict[str, int] = {}
    seen_plate: dict[str, int] = {}
    names_by_phone: dict[str, tuple[str, int]] = {}

    def err(row: int, fld: str, msg: str) -> None:
        errors.append({"row": row, "field": fld, "message": str(msg)})

    for item in rows:
        n, values = item["row"], item["values"]
        for fld, msg in item.get("cell_errors", {}).items():
            err(n, fld, msg)
        if not (values.get("name") or "").strip():
            err(n, "name", _("Enter the customer's name."))
        try:
            phone = validators.normalize_phone(values.get("phone") or "")
            first = names_by_phone.setdefault(phone, (values.get("name") or "", n))
            if first[0] != (values.get("name") or ""):
                err(
                    n,
                    "phone",
                    _("Phone also given in row %(r)d for “%(name)s”: one phone, one customer.")
                    % {"r": first[1], "name": first[0]},
                )
        except ApplicationError as exc:
            err(n, "phone", exc.message)
        if values.get("phone2"):
            try:
                validators.normalize_phone(values["phone2"])
            except ApplicationError as exc:
                err(n, "phone2", exc.message)
        if not any(values.get(k) not in (None, "") for k in VEHICLE_KEYS):
            continue
        try:
            vin = validators.normalize_vin(values.get("vin") or "")
        except ApplicationError as exc:
            err(n, "vin", exc.message)
        else:
            if not validators.vin_check_digit_ok(vin) and values.get("vin_check_ok") is not False:
                err(
                    n,
                    "vin",
                    _(
                        "The check digit of VIN %(vin)s should be “%(d)s”; correct it, or put "
                        "“no” in vin_check_ok if it was compared with the car."
                    )
                    % {"vin": vin, "d": validators.vin_check_digit(vin)},
                )
            if vin in seen_vin:
                err(
                    n,
                    "vin",
                    _("VIN %(vin)s is also in row %(r)d.") % {"vin": vin, "r": seen_vin[vin]},
                )
            seen_vin.setdefault(vin, n)
            taken = Vehicle.objects.filter(site=site, vin=vin).select_related("owner").first()
            if taken:
                err(
                    n,
                    "vin",
                    _("VIN %(vin)s is already on vehicle %(v)s.")
                    % {"vin": vin, "v": f"{taken.plate or taken.vin} ({taken.owner.name})"},
                )
        try:
            plate = validators.normalize_plate(values.get("plate") or "")
        except ApplicationError as exc:
            err(n, "plate", exc.message)
        else:
            if plate:
                if plate in seen_plate:
                    err(
                        n,
                        "plate",
                        _("Plate %(p)s is also in row %(r)d.")
                        % {"p": plate, "r": seen_plate[plate]},
                    )
                seen_plate.setdefault(plate, n)
                taken = (
                    Vehicle.objects.filter(site=site, plate=plate).select_related("owner").first()
                )
                if taken:
                    err(
                        n,
                        "plate",
                        _("Plate %(p)s is already on vehicle %(v)s.")
                        % {"p": plate, "v": f"{taken.plate} ({taken.owner.name})"},
                    )
    return errors


def _parse(filename: str, content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    table = read_table(filename, content)
    while table and not any(str(c or "").strip() for c in table[0]):
        table.pop(0)
    if not table:
        raise ApplicationError(_("The file is empty."), fields={"file": _("The file is empty.")})
    mapping, unknown = _header_map(table[0])
    file_errors = [
        {"row": 1, "field": "", "message": _("Unknown column “%(c)s”.") % {"c": c}} for c in unknown
    ]
    if "name" not in mapping.values() or "phone" not in mapping.values():
        file_errors.append(
            {
                "row": 1,
                "field": "",
                "message": _("The first row must name the columns; name and phone are required."),
            }
        )
    rows = []
    for offset, raw in enumerate(table[1:], start=2):
        if not any(str(c or "").strip() for c in raw):
            continue
        values: dict[str, Any] = {}
        cell_errors: dict[str, str] = {}
        for i, key in mapping.items():
            value = raw[i] if i < len(raw) else None
            try:
                values[key] = _cell(value, key)
            except ValueError as exc:
                cell_errors[key] = str(exc)
        rows.append({"row": offset, "values": values, "cell_errors": cell_errors})
    if len(rows) > MAX_ROWS:
        file_errors.append(
            {"row": 1, "field": "", "message": _("At most %(n)d rows per file.") % {"n": MAX_ROWS}}
        )
    if not rows:
        file_errors.append({"row": 1, "field": "", "message": _("The file has no data rows.")})
    return rows, file_errors


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in rows:
        values = {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in item["values"].items()
        }
        out.append({"row": item["row"], "values": values, "cell_errors": item["cell_errors"]})
    return out


def import_check(*, site: Site, actor, filename: str, content: bytes) -> ImportBatch:
    """Parse and check a file; nothing is imported yet. The batch holds the preview."""
    rows, errors = _parse(filename, content)
    errors += _check_rows(site, rows)
    errors.sort(key=lambda e: (e["row"], e["field"]))
    return ImportBatch.objects.create(
        site=site,
        filename=filename[:200],
        status=ImportBatch.Status.INVALID if errors else ImportBatch.Status.CHECKED,
        rows=_jsonable(rows),
        errors=errors,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _restore(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in values.items():
        if k in DATE_KEYS and isinstance(v, str) and v:
            out[k] = date.fromisoformat(v)
        else:
            out[k] = v
    return out


def import_apply(*, batch_id: int, actor) -> ImportBatch:
    """Save a checked file: every row or none. The rows are checked again inside the
    transaction; any error marks the batch invalid with the row-by-row report."""
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status == ImportBatch.Status.APPLIED:
        return batch  # a repeated confirm is a no-op
    if batch.status != ImportBatch.Status.CHECKED:
        raise ApplicationError(_("This file has errors; correct it and upload it again."))
    site = batch.site
    created = {"customers": 0, "vehicles": 0, "existing_customers": 0}
    failed: list[dict[str, Any]] = []
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
            if batch.status == ImportBatch.Status.APPLIED:
                return batch
            rows = [{**r, "values": _restore(r["values"])} for r in batch.rows]
            failed = _check_rows(site, rows)
            if failed:
                raise _Rollback
            by_phone: dict[str, Customer] = {}
            for item in rows:
                n, values = item["row"], item["values"]
                phone = validators.normalize_phone(values["phone"])
                customer = by_phone.get(phone)
                if customer is None:
                    customer = (
                        Customer.objects.filter(site=site, phone=phone, merged_into__isnull=True)
                        .order_by("id")
                        .first()
                    )
                    if customer is None:
                        fields = {
                            k: values[k] for k in CUSTOMER_KEYS if values.get(k) not in (None, "")
                        }
                        try:
                            customer = services.customer_create(site=site, actor=actor, **fields)
                        except ApplicationError as exc:
                            failed += _row_errors(n, exc)
                            raise _Rollback from exc
                        created["customers"] += 1
                    else:
                        created["existing_customers"] += 1
                    by_phone[phone] = customer
                vehicle_fields = {
                    k: values[k] for k in VEHICLE_KEYS if values.get(k) not in (None, "")
                }
                if not vehicle_fields:
                    continue
                try:
                    services.vehicle_create(
                        site=site,
                        owner=customer,
                        actor=actor,
                        acknowledge_vin_warning=values.get("vin_check_ok") is False,
                        **vehicle_fields,
                    )
                except ApplicationError as exc:
                    failed += _row_errors(n, exc)
                    raise _Rollback from exc
                created["vehicles"] += 1
            batch.status = ImportBatch.Status.APPLIED
            batch.applied_at = timezone.now()
            batch.result = created
            batch.save(update_fields=["status", "applied_at", "result"])
            audit.record(
                subject=batch, action="import_applied", actor=actor, site=site, data=created
            )
    except _Rollback:
        ImportBatch.objects.filter(pk=batch_id).update(
            status=ImportBatch.Status.INVALID, errors=failed
        )
        batch.refresh_from_db()
    return batch


class _Rollback(Exception):
    pass


def _row_errors(row: int, exc: ApplicationError) -> list[dict[str, Any]]:
    if exc.fields:
        return [
            {"row": row, "field": k, "message": m} for k, msgs in exc.fields.items() for m in msgs
        ]
    return [{"row": row, "field": "", "message": exc.message}]


TEMPLATE_HEADER = [
    "name",
    "phone",
    "phone2",
    "email",
    "address",
    "vin",
    "plate",
    "make",
    "model",
    "year",
    "colour",
    "purchase_date",
    "mileage_km",
    "next_service_due_date",
]
