"""Package build step (``[tool.setuptools.cmdclass]`` in pyproject.toml): a wheel that runs as is.

Besides the Python files and the package data declared in pyproject.toml, the wheel gets:
- the compiled translation catalogs (``whatrack/translations/*/LC_MESSAGES/*.mo``, never the .po),
  so an installed app speaks pt-BR with no build step;
- the Alembic revisions, as ``whatrack/migrations`` (the app factory looks there when the package
  is not a source checkout), so ``flask --app wsgi db upgrade`` works after ``pip install``;
- a check that the front-end vendor files listed in package.json are present: a wheel without
  them would serve a Kanban that cannot drag, so the build stops and says how to fetch them.

An editable install (``pip install -e .``) serves everything from the source tree; there only the
catalogs are compiled in place.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
TRANSLATIONS = ROOT / "whatrack" / "translations"
VENDOR = ROOT / "whatrack" / "static" / "vendor"


def _catalogs():
    # Loaded by path: importing the ``whatrack`` package would import Flask, which the
    # isolated build environment does not have.
    spec = importlib.util.spec_from_file_location("_whatrack_catalogs",
                                                  ROOT / "whatrack" / "catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_vendor_files() -> list[str]:
    package = ROOT / "package.json"
    if not package.exists():
        return []
    wanted = json.loads(package.read_text()).get("whatrackVendor", {})
    return sorted(dest for dest in wanted if not (VENDOR / dest).is_file())


class BuildPy(build_py):
    def run(self) -> None:
        catalogs = _catalogs()
        if self.editable_mode:
            catalogs.ensure_compiled(TRANSLATIONS)
            super().run()
            return
        missing = missing_vendor_files()
        if missing:
            raise SystemExit(
                "error: front-end vendor files missing from whatrack/static/vendor: "
                + ", ".join(missing) + "; run scripts/vendor-assets before building the wheel"
            )
        super().run()
        package = Path(self.build_lib) / "whatrack"
        for po in catalogs.sources(TRANSLATIONS):
            mo = package / po.relative_to(ROOT / "whatrack").with_suffix(".mo")
            catalogs.compile_catalog(po, mo)
        shutil.copytree(ROOT / "migrations", package / "migrations", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
