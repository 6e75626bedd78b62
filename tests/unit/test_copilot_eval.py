"""The built-in detector on the labelled conversations holds the issue's targets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from whatrack.services.copilot.builtin import BuiltinDetector

_BENCH = Path(__file__).resolve().parents[2] / "bench" / "copilot_eval.py"


def _bench():
    spec = importlib.util.spec_from_file_location("copilot_eval", _BENCH)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up by name while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_labelled_set_is_big_and_varied():
    conversations = _bench().load()
    assert len(conversations) >= 80
    assert sum(1 for c in conversations if not c.expected) >= 30
    assert any(len(c.expected) == 2 for c in conversations)


def test_builtin_detector_meets_the_targets():
    bench = _bench()
    score = bench.evaluate(BuiltinDetector(), bench.load())
    summary = bench.report("builtin", score, verbose=True)
    assert score.precision >= 0.95, summary
    assert score.recall >= 0.8, summary
    assert score.value_accuracy >= 0.9, summary


def test_the_script_prints_the_scores(capsys, monkeypatch):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    assert _bench().main([]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out and "value exact" in out
