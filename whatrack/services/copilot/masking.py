"""Personal data out of the text an outside model reads: e-mails, phone numbers, CPF/CNPJ."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Eight or more digits with the separators people type ("+55 (11) 98765-4321",
# "123.456.789-09"). Amounts keep their comma cents and have fewer digits, so they survive.
_PHONE = re.compile(r"(?<![\w,])\+?\(?\d(?:[\d\s()./-]*\d)?(?!\w|,\d)")


def _mask_digits(match: re.Match[str]) -> str:
    text = match.group()
    if sum(ch.isdigit() for ch in text) >= 8 and not re.search(r",\d{2}$", text):
        return "[número]"
    return text


def mask(text: str) -> str:
    return _PHONE.sub(_mask_digits, _EMAIL.sub("[email]", text))
