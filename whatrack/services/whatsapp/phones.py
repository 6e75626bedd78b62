"""WhatsApp ids as people think of them: one contact per phone, ninth digit or not."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\D+")


def digits(value: str | None) -> str:
    return _DIGITS.sub("", value or "")


def canonical_wa_id(value: str | None) -> str:
    """Canonical id: Brazilian mobiles always with the ninth digit (55 DD 9XXXX-XXXX).

    Meta still delivers some Brazilian mobiles as 12 digits (55 DD XXXX-XXXX, accounts made
    before the 2012-2016 ninth-digit migration) and others as 13; both are the same person.
    A 12-digit number whose subscriber part starts with 6-9 is a mobile missing its 9;
    landlines (2-5) keep 8 digits.
    """
    number = digits(value)
    if len(number) == 12 and number.startswith("55") and number[4] in "6789":
        return number[:4] + "9" + number[4:]
    return number


def mask(value: str | None) -> str:
    """For logs: never a full phone number."""
    number = digits(value)
    return f"{number[:4]}…{number[-2:]}" if len(number) > 6 else "…"


def format_phone(wa_id: str | None) -> str:
    """A WhatsApp id as a Brazilian reads a number: "+55 11 98765-4321"; others "+<digits>"."""
    number = digits(wa_id)
    if not number:
        return ""
    if number.startswith("55") and len(number) in (12, 13):
        local = number[4:]
        return f"+55 {number[2:4]} {local[:-4]}-{local[-4:]}"
    return f"+{number}"
