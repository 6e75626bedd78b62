"""The wheel is a complete app: templates, static and vendor files, compiled pt-BR catalogs and
migrations inside, and, unpacked outside the source tree, it migrates and serves the pt-BR UI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a fresh clone has, minus what `pip wheel .` must not need (and no compiled catalogs, so
# the test proves the build compiles them).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".ci", "node_modules", "instance", "tests", "bench", "docs", "build",
    "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.mo",
)

SERVE = """
import json, os, sys
from pathlib import Path
import whatrack, wsgi
assert Path(whatrack.__file__).is_relative_to(sys.argv[1]), whatrack.__file__
client = wsgi.app.test_client()
landing = client.get("/")
vendor = client.get("/static/vendor/sortable/Sortable.min.js")
print(json.dumps({"landing": landing.status_code, "text": landing.get_data(as_text=True),
                  "vendor": vendor.status_code}))
sys.stdout.flush()
os._exit(0)  # the laptop-mode worker and scheduler threads need no orderly shutdown here
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (work / "dist").glob("whatrack-*.whl")
    return built


def test_wheel_holds_everything_the_installed_app_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {name.removeprefix("whatrack/") for name in names if name.startswith("whatrack/")}

    package = ROOT / "whatrack"
    templates = {str(p.relative_to(package)) for p in (package / "templates").rglob("*.html")}
    assert templates and templates <= packaged
    static = {str(p.relative_to(package)) for p in (package / "static").rglob("*")
              if p.is_file() and "vendor" not in p.parts}
    assert static and static <= packaged
    vendor = json.loads((ROOT / "package.json").read_text())["whatrackVendor"]
    assert {f"static/vendor/{dest}" for dest in vendor} <= packaged
    revisions = {str(p.relative_to(ROOT)) for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert revisions and revisions <= packaged
    assert {"migrations/env.py", "migrations/alembic.ini", "migrations/script.py.mako"} <= packaged

    assert "translations/pt_BR/LC_MESSAGES/messages.mo" in packaged
    assert not any(name.endswith(".po") for name in names)
    assert {"config.py", "wsgi.py"} <= names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_unpacked_wheel_migrates_and_serves_portuguese(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run = tmp_path / "run"  # not the source tree: nothing importable from the checkout
    run.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(site),
        "WHATRACK_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
    }

    upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                             cwd=run, env=env, capture_output=True, text=True, timeout=120,
                             check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Running upgrade" in upgrade.stderr  # the packaged revisions were found and applied

    served = subprocess.run([sys.executable, "-c", SERVE, str(site)], cwd=run, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert served.returncode == 0, served.stderr
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["landing"] == 200
    assert 'lang="pt-BR"' in result["text"]
    assert "Comece seu teste grátis de 14 dias" in result["text"]
    assert result["vendor"] == 200
