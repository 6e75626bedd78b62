"""Encryption of third-party tokens at rest (Fernet; first key encrypts, all decrypt)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class TokenDecryptError(RuntimeError):
    """Stored token cannot be decrypted with any configured key (rotated away?)."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in current_app.config["TOKEN_ENCRYPTION_KEYS"].split(",") if k.strip()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt_token(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt_token(cipher: str) -> str:
    try:
        return _fernet().decrypt(cipher.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError("token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from exc
