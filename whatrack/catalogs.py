"""Compiled translation catalogs (.po -> .mo), at package build time and at start-up.

Only the standard library and Babel are imported here: the package build (``build_hooks.py``)
loads this file by path, before Flask or the project's dependencies are installed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

COMPILE_HINT = "pybabel compile -d whatrack/translations"


def sources(translations: Path) -> list[Path]:
    """Every ``<locale>/LC_MESSAGES/<domain>.po`` under ``translations``."""
    return sorted(translations.glob("*/LC_MESSAGES/*.po"))


def compile_catalog(po: Path, mo: Path) -> None:
    """Write ``mo`` from ``po``; readers never see a half-written file (atomic replace)."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".", suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as target:
            write_mo(target, catalog)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stale(translations: Path) -> list[Path]:
    """The .po files whose .mo is missing or older than they are."""
    out = []
    for po in sources(translations):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            out.append(po)
    return out


def ensure_compiled(translations: Path) -> list[Path]:
    """Compile the catalogs a source checkout has not compiled yet (or edited since).

    An installed wheel carries compiled catalogs and no .po, so this does nothing there. A
    read-only tree that needs compiling is logged, not fatal: the UI falls back to the source
    strings (English) rather than refusing to start. Returns the .po files still stale.
    """
    left = []
    for po in stale(translations):
        try:
            compile_catalog(po, po.with_suffix(".mo"))
            log.info("compiled translation catalog %s", po)
        except OSError as exc:
            log.warning("cannot compile %s (%s); the UI falls back to English until `%s` runs",
                        po, exc, COMPILE_HINT)
            left.append(po)
    return left
