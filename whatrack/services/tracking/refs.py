"""Link and reference codes: how they are made, written into a message and found again.

Pure functions. A reference code is ``WT-`` and six characters of an alphabet without the
look-alikes (0/O, 1/I/L, U), written at the end of the prefilled message. Customers'
phones may break the line or add spaces inside it, and people retype it in lower case, so
it is found in the text with every whitespace removed and case ignored; what is found
must then equal a stored code exactly.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_PREFIX = "WT-"
REF_LENGTH = 6
LINK_CODE_LENGTH = 7
_REF_PATTERN = re.compile(rf"WT-?([{ALPHABET}]{{{REF_LENGTH}}})")
_SPACES = re.compile(r"\s+")
MAX_REFS_PER_MESSAGE = 5


def new_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_ref() -> str:
    return REF_PREFIX + new_code(REF_LENGTH)


def new_link_code() -> str:
    return new_code(LINK_CODE_LENGTH).lower()


def prefilled_text(message: str, ref: str | None) -> str:
    """The text the customer's WhatsApp opens with: the link's message, then the code."""
    message = (message or "").strip()
    if not ref:
        return message
    return f"{message} ({ref})" if message else ref


def wa_me_url(phone_digits: str, text: str) -> str:
    """``https://wa.me/<number>?text=...`` with every reserved character percent-encoded."""
    url = f"https://wa.me/{phone_digits}"
    return f"{url}?text={quote(text, safe='')}" if text else url


def find_refs(text: str | None) -> list[str]:
    """Candidate reference codes in a message, in order, normalised to ``WT-XXXXXX``."""
    if not text:
        return []
    compact = _SPACES.sub("", text).upper()
    found: list[str] = []
    for match in _REF_PATTERN.finditer(compact):
        ref = REF_PREFIX + match.group(1)
        if ref not in found:
            found.append(ref)
        if len(found) >= MAX_REFS_PER_MESSAGE:
            break
    return found
