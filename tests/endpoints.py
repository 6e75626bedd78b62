"""Which Flask endpoints the suite tests: the ``endpoint`` marker, read without running.

A test names the endpoints whose behaviour it checks (the effect in the database and on
the page, or a refusal and that nothing changed)::

    @pytest.mark.endpoint("tickets.add_note", "tickets.panel")
    def test_a_note_shows_on_the_panel(...): ...

``pytestmark = pytest.mark.endpoint(...)`` on a module or class marks all its tests. Names
are string literals of the endpoint (``blueprint.view_function``, as ``url_for`` takes).

The registry is read by importing every test module rather than from the running session,
so ``pytest -k ...`` or running one file gives the same answer as the full suite.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent


def _marks(obj: Any) -> list[pytest.Mark]:
    marks = getattr(obj, "pytestmark", [])
    return list(marks) if isinstance(marks, list | tuple) else [marks]


def _endpoint_names(marks: Iterable[Any]) -> Iterator[str]:
    for mark in marks:
        mark = getattr(mark, "mark", mark)  # a MarkDecorator in a module's pytestmark
        if getattr(mark, "name", None) == "endpoint":
            yield from mark.args


def _test_modules() -> Iterator[Any]:
    for path in sorted(TESTS_DIR.rglob("test_*.py")):
        dotted = ".".join(path.relative_to(TESTS_DIR.parent).with_suffix("").parts)
        yield importlib.import_module(dotted)


def _tests_of(module: Any) -> Iterator[tuple[str, Any, list[Any]]]:
    """(qualified name, test object, marks inherited from its module and class)."""
    module_marks = _marks(module)
    for name, obj in vars(module).items():
        if inspect.isfunction(obj) and name.startswith("test"):
            yield f"{module.__name__}::{name}", obj, module_marks
        elif inspect.isclass(obj) and name.startswith("Test"):
            class_marks = module_marks + _marks(obj)
            for attr, method in vars(obj).items():
                if inspect.isfunction(method) and attr.startswith("test"):
                    yield f"{module.__name__}::{name}::{attr}", method, class_marks


def endpoints_under_test() -> dict[str, list[str]]:
    """endpoint -> the tests that name it."""
    registry: dict[str, list[str]] = {}
    for module in _test_modules():
        for qualified, test, inherited in _tests_of(module):
            for endpoint in _endpoint_names(inherited + _marks(test)):
                registry.setdefault(endpoint, []).append(qualified)
    return registry
