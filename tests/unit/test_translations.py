"""Every UI string in the code has a pt-BR translation (pt-BR is the default UI)."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def _source_ids() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None,
                "lazy_gettext": None}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_every_ui_string_has_a_pt_br_translation():
    with open(ROOT / "whatrack/translations/pt_BR/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_source_ids() - translated)
    assert not missing, (
        "untranslated UI strings; run pybabel extract/update and translate: " + repr(missing[:20]))
