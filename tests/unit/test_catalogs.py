"""A source checkout compiles its translation catalogs itself: missing or edited .po files are
compiled at start-up, so the UI is pt-BR without running pybabel first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from babel.support import Translations

from whatrack.catalogs import ensure_compiled, stale

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "whatrack/translations/pt_BR/LC_MESSAGES/messages.po"
TRIAL = "Start your 14-day free trial"


def _copy_catalog(tmp_path: Path) -> Path:
    po = tmp_path / "pt_BR/LC_MESSAGES/messages.po"
    po.parent.mkdir(parents=True)
    shutil.copy(SOURCE, po)
    return po


def test_a_missing_catalog_is_compiled(tmp_path):
    po = _copy_catalog(tmp_path)
    assert stale(tmp_path) == [po]

    assert ensure_compiled(tmp_path) == []

    translations = Translations.load(str(tmp_path), ["pt_BR"])
    assert translations.gettext(TRIAL) == "Comece seu teste grátis de 14 dias"
    assert stale(tmp_path) == []
    assert not list(po.parent.glob(".*.tmp"))  # written through a temporary file, then renamed


def test_an_edited_catalog_is_compiled_again(tmp_path):
    po = _copy_catalog(tmp_path)
    ensure_compiled(tmp_path)
    mo = po.with_suffix(".mo")
    old = mo.stat().st_mtime - 60
    os.utime(mo, (old, old))
    po.write_text(po.read_text(encoding="utf-8").replace(
        'msgstr "Comece seu teste grátis de 14 dias"', 'msgstr "Teste grátis"'), encoding="utf-8")

    assert stale(tmp_path) == [po]
    ensure_compiled(tmp_path)

    translations = Translations.load(str(tmp_path), ["pt_BR"])
    assert translations.gettext(TRIAL) == "Teste grátis"


def test_an_up_to_date_catalog_is_left_alone(tmp_path):
    po = _copy_catalog(tmp_path)
    ensure_compiled(tmp_path)
    before = po.with_suffix(".mo").stat().st_mtime_ns

    assert ensure_compiled(tmp_path) == []
    assert po.with_suffix(".mo").stat().st_mtime_ns == before
