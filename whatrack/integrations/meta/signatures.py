"""Meta webhook authentication: the GET handshake and the POST body signature."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_PREFIX = "sha256="


def sign(app_secret: str, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``raw_body``."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Constant-time check over the exact bytes received (re-encoded JSON would differ)."""
    if not app_secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str, and a header is
    # whatever the sender typed (that TypeError was a 500 for one "é").
    given = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(sign(app_secret, raw_body).encode(), given)


def verify_subscription(args: Mapping[str, str], verify_token: str | None) -> str | None:
    """The challenge to echo if this is Meta's subscribe handshake with our token, else None."""
    if not verify_token or args.get("hub.mode") != "subscribe":
        return None
    given = args.get("hub.verify_token") or ""
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return args.get("hub.challenge")
