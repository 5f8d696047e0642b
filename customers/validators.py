"""Normalising and checking what people type: VINs, plates and phone numbers.

Each `normalize_*` returns the stored form or raises `ApplicationError` with a message a person can
act on. A VIN whose check digit (position 9, ISO 3779 / GB 16735) does not add up is *not* an
error here: `vin_check_digit_ok()` lets the service turn it into a warning to acknowledge.
"""

import re
import unicodedata

import phonenumbers
from django.utils.translation import gettext as _

from dms.exceptions import ApplicationError

VIN_LENGTH = 17
_VIN_CHARS = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

# Provinces, autonomous regions and municipalities that start a Chinese plate.
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# ordinary plate: 省 + letter + 5 of A–Z/0–9 (may end in 挂/学/警/港/澳/领/使)
_PLATE_ORDINARY = re.compile(
    rf"^[{PROVINCES}][A-Z][A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳领使]$"
)
# new-energy (green) plate, 8 characters: 省 + letter + D/F/A–K… + 5 digits, or 5 digits + D/F
_PLATE_NEW_ENERGY = re.compile(
    rf"^[{PROVINCES}][A-Z](?:[DFABCEGHJK][A-HJ-NP-Z0-9][0-9]{{4}}|[0-9]{{5}}[DFABCEGHJK])$"
)
_SEPARATORS = re.compile(r"[\s.·•\-_]+")


def nfkc(s: str) -> str:
    """What a Chinese keyboard types in full width (Ｑ５０３２, １３８…, the ideographic space)
    as the ordinary characters stored in the archive."""
    return unicodedata.normalize("NFKC", str(s or ""))


def normalize_vin(s: str) -> str:
    """Upper case, spaces removed; 17 characters of A–Z/0–9 without I, O, Q."""
    vin = re.sub(r"\s+", "", nfkc(s)).upper()
    if not vin:
        raise ApplicationError(_("Enter the VIN."), fields={"vin": _("Enter the VIN.")})
    if len(vin) != VIN_LENGTH:
        msg = _("A VIN has 17 characters; this one has %(n)d.") % {"n": len(vin)}
        raise ApplicationError(msg, fields={"vin": msg})
    bad = sorted({c for c in vin if c in "IOQ"})
    if bad:
        msg = _("A VIN never contains the letters I, O or Q (found: %(chars)s).") % {
            "chars": ", ".join(bad)
        }
        raise ApplicationError(msg, fields={"vin": msg})
    if not _VIN_CHARS.match(vin):
        msg = _("A VIN contains only the letters A–Z and the digits 0–9.")
        raise ApplicationError(msg, fields={"vin": msg})
    return vin


def vin_check_digit(vin: str) -> str:
    """The check digit (position 9) the other 16 characters call for: 0–9 or X."""
    total = sum(
        _VIN_VALUES[c] * w for i, (c, w) in enumerate(zip(vin, _VIN_WEIGHTS, strict=True)) if i != 8
    )
    check = total % 11
    return "X" if check == 10 else str(check)


def vin_check_digit_ok(vin: str) -> bool:
    """True if position 9 matches the computed check digit. Expects a normalised VIN."""
    if not vin or len(vin) != VIN_LENGTH or not _VIN_CHARS.match(vin):
        return False
    return vin[8] == vin_check_digit(vin)


def vin_with_check_digit(body: str) -> str:
    """`body` (17 valid characters) with position 9 set to the correct check digit."""
    body = body.upper()
    return body[:8] + vin_check_digit(body) + body[9:]


def normalize_plate(s: str) -> str:
    """Upper case, without spaces, dots or dashes; a Chinese plate of 7 or 8 (new-energy) characters.

    An empty input gives "" (a vehicle may not have its plate yet).
    """
    plate = _SEPARATORS.sub("", nfkc(s)).upper()
    if not plate:
        return ""
    if len(plate) not in (7, 8):
        msg = _(
            "A plate has 7 characters (8 for a green new-energy plate), e.g. 沪A12345 or "
            "沪AD12345; this one has %(n)d."
        ) % {"n": len(plate)}
        raise ApplicationError(msg, fields={"plate": msg})
    if plate[0] not in PROVINCES:
        msg = _("A plate starts with the province character, e.g. 沪, 京 or 粤.")
        raise ApplicationError(msg, fields={"plate": msg})
    pattern = _PLATE_ORDINARY if len(plate) == 7 else _PLATE_NEW_ENERGY
    if not pattern.match(plate):
        if len(plate) == 8:
            msg = _(
                "A new-energy plate is the province, a letter, then D or F and 5 more characters "
                "(e.g. 沪AD12345) or 5 digits and D or F (e.g. 沪A12345D)."
            )
        else:
            msg = _(
                "After the province and the letter, a plate has 5 letters or digits "
                "(no I or O), e.g. 沪A12345."
            )
        raise ApplicationError(msg, fields={"plate": msg})
    return plate


def looks_like_plate_tail(s: str) -> bool:
    """A plate typed without its province character, e.g. "A12345" or "AD12345"."""
    s = _SEPARATORS.sub("", str(s or "")).upper()
    return bool(re.match(r"^[A-Z][A-Z0-9]{5,6}$", s)) and any(c.isdigit() for c in s)


def normalize_phone(s: str, region: str = "CN", *, field: str = "phone") -> str:
    """Parse with `phonenumbers` (default region CN) and return E.164, e.g. +8613812345678."""
    raw = nfkc(s).strip()
    if not raw:
        msg = _("Enter a phone number.")
        raise ApplicationError(msg, fields={field: msg})
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        msg = _("“%(value)s” is not a valid phone number.") % {"value": raw}
        raise ApplicationError(msg, fields={field: msg})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored E.164 number as people read it (national format for CN numbers)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 86
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)
