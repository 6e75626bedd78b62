"""Parsing money as people type it ("1.234,56" or "1234.56") into exact Decimals."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _

from whatrack.errors import ValidationError

MAX_SALE_VALUE = Decimal("10000000")
# ISO 4217 codes we accept (the currencies Meta's CAPI takes from Brazilian businesses' customers).
CURRENCIES = frozenset({
    "BRL", "USD", "EUR", "ARS", "CLP", "COP", "MXN", "PEN", "UYU", "PYG", "BOB", "GBP", "CAD",
    "AUD", "JPY", "CHF",
})
_BR = re.compile(r"^\d{1,3}(\.\d{3})*(,\d+)?$|^\d+(,\d+)?$")
_PLAIN = re.compile(r"^\d+(\.\d+)?$")


def _normalize(text: str, style: str) -> str | None:
    if style == "api":
        return text if _PLAIN.match(text) else None
    if _BR.match(text):
        return text.replace(".", "").replace(",", ".")
    # "1234.56" typed in a pt-BR form: a single dot followed by 1-2 digits is a decimal point.
    if re.match(r"^\d+\.\d{1,2}$", text):
        return text
    return None


def parse_amount(raw: str | int | Decimal | None, style: str = "br") -> Decimal:
    """A positive amount with at most 2 decimals and at most 10,000,000.

    ``style="br"`` reads what people type in the pt-BR UI ("1.234,56", "1234,56", "350");
    ``style="api"`` reads the API's decimal strings ("1234.56"). Floats are refused: they
    cannot carry cents exactly.
    """
    if isinstance(raw, bool | float) or raw is None:
        raise ValidationError(_("Send the value as a decimal string such as \"1234.56\"."),
                              field="value")
    text = str(raw).strip().replace("R$", "").replace(" ", "").replace("\u00a0", "")
    normalized = _normalize(text, style)
    if normalized is None:
        if style == "api":
            raise ValidationError(_("Send the value as a decimal string such as \"1234.56\"."),
                                  field="value")
        raise ValidationError(_("Enter a value such as 1.234,56."), field="value")
    value = Decimal(normalized)
    if value.as_tuple().exponent < -2:
        raise ValidationError(_("Use at most 2 decimal places."), field="value")
    if value <= 0:
        raise ValidationError(_("The value must be greater than zero."), field="value")
    if value > MAX_SALE_VALUE:
        raise ValidationError(_("The value is too large (maximum 10,000,000)."), field="value")
    return value.quantize(Decimal("0.01"))


def parse_currency(raw: str | None) -> str:
    code = (raw or "BRL").strip().upper()
    if code not in CURRENCIES:
        raise ValidationError(_("Unknown currency (use an ISO 4217 code such as BRL)."),
                              field="currency")
    return code
