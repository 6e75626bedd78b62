"""Re-encrypting stored third-party tokens with the first key of TOKEN_ENCRYPTION_KEYS.

Rotation is: put the new key first (the old ones after it, so everything still decrypts),
deploy, run ``flask --app wsgi keys rotate``, then drop the old keys. Rows are read and
written in small batches, each committed on its own, so a run can be stopped and started
again: rows already on the first key are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from whatrack.crypto import TokenDecryptError, reencrypt_token
from whatrack.extensions import db
from whatrack.models import MetaConnection, WhatsAppAccount, WhatsAppOnboarding
from whatrack.tenancy import unscoped

log = logging.getLogger(__name__)

# Every column holding a token encrypted by whatrack.crypto (a test checks none is missing).
ENCRYPTED_COLUMNS: tuple[Any, ...] = (
    WhatsAppAccount.token_encrypted,
    MetaConnection.token_encrypted,
    WhatsAppOnboarding.token_encrypted,
    WhatsAppOnboarding.pin_encrypted,
)


@dataclass
class RotationResult:
    changed: int = 0
    skipped: int = 0
    unreadable: list[str] = field(default_factory=list)  # "table#id", for the operator


def rotate_tokens(batch_size: int = 200,
                  on_batch: Callable[[str, int], None] | None = None) -> RotationResult:
    """Re-encrypt every stored token not yet on the first key; commits after each batch."""
    result = RotationResult()
    for column in ENCRYPTED_COLUMNS:
        table = column.class_.__table__
        last_id = 0
        while True:
            with unscoped():
                rows = db.session.execute(
                    select(table.c.id, column).where(column.is_not(None), table.c.id > last_id)
                    .order_by(table.c.id).limit(batch_size)).all()
            if not rows:
                break
            changed = 0
            for row_id, cipher in rows:
                try:
                    fresh = reencrypt_token(cipher)
                except TokenDecryptError:
                    result.unreadable.append(f"{table.name}#{row_id}")
                    continue
                if fresh is None:
                    result.skipped += 1
                    continue
                # Compare-and-set: a token replaced meanwhile (a reconnect) is left alone.
                with unscoped():
                    done = db.session.execute(
                        update(table).where(table.c.id == row_id, column == cipher)
                        .values({column.key: fresh})).rowcount
                changed += done
            db.session.commit()
            result.changed += changed
            last_id = rows[-1][0]
            if on_batch:
                on_batch(table.name, changed)
    if result.unreadable:
        log.warning("key rotation: %d tokens readable by no configured key: %s",
                    len(result.unreadable), ", ".join(result.unreadable))
    return result
