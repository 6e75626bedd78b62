"""Encryption of third-party tokens at rest (Fernet; first key encrypts, all decrypt)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class TokenDecryptError(RuntimeError):
    """Stored token cannot be decrypted with any configured key (rotated away?)."""


def _keys() -> list[Fernet]:
    keys = [k.strip() for k in current_app.config["TOKEN_ENCRYPTION_KEYS"].split(",") if k.strip()]
    return [Fernet(k) for k in keys]


def _fernet() -> MultiFernet:
    return MultiFernet(_keys())


def encrypt_token(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt_token(cipher: str) -> str:
    try:
        return _fernet().decrypt(cipher.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError("token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from exc


def reencrypt_token(cipher: str) -> str | None:
    """``cipher`` encrypted with the first key, or None when it already is (nothing to do).

    Raises TokenDecryptError when no configured key can read it.
    """
    keys = _keys()
    try:
        keys[0].decrypt(cipher.encode())
        return None
    except InvalidToken:
        pass
    try:
        return MultiFernet(keys).rotate(cipher.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError("token cannot be decrypted with TOKEN_ENCRYPTION_KEYS") from exc


def encrypted_attribute(column: str) -> property:
    """The plain-text view of an encrypted column: Fernet at rest, empty stays None.

    Models holding a secret (a token, a PIN) expose it through this one accessor instead of
    each writing the same getter and setter.
    """

    def read(row: object) -> str | None:
        cipher = getattr(row, column)
        return decrypt_token(cipher) if cipher else None

    def write(row: object, value: str | None) -> None:
        setattr(row, column, encrypt_token(value) if value else None)

    return property(read, write)
