"""How well the copilot's detectors find sales in the labelled pt-BR conversations.

    python bench/copilot_eval.py [--set tests/data/copilot_conversations.txt] [-v]

Prints precision (proposals that were real sales), recall (real sales proposed) and value
accuracy (proposals with exactly the labelled value, among the real ones) for the built-in
detector, and for the LLM detector too when LLM_BASE_URL and LLM_MODEL are set. A wrong
proposal costs a person's time; a wrong approval would lie to Meta: precision matters most.
tests/unit/test_copilot_eval.py runs the same scoring and holds the built-in detector to
precision >= 0.95, recall >= 0.8, value exact >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from whatrack.services.copilot.detection import (  # noqa: E402
    INBOUND,
    OUTBOUND,
    ChatMessage,
    Detection,
    SaleDetector,
)

DEFAULT_SET = ROOT / "tests" / "data" / "copilot_conversations.txt"


@dataclass
class Conversation:
    id: str
    category: str
    messages: list[ChatMessage]
    expected: list[Decimal | None]  # None: a sale whose value nobody stated


@dataclass
class Score:
    proposals: int = 0
    sales: int = 0
    true_positives: int = 0
    value_exact: int = 0
    mistakes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_positives / self.proposals if self.proposals else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.sales if self.sales else 1.0

    @property
    def value_accuracy(self) -> float:
        return self.value_exact / self.true_positives if self.true_positives else 1.0


def load(path: Path = DEFAULT_SET) -> list[Conversation]:
    conversations: list[Conversation] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("== "):
            conv_id, category, sales = (part.strip() for part in line[3:].split("|"))
            expected = [] if sales == "-" else [
                None if v.strip() == "?" else Decimal(v) for v in sales.split(",")]
            conversations.append(Conversation(conv_id, category, [], expected))
            continue
        direction = {">": INBOUND, "<": OUTBOUND}.get(line[:1])
        if direction is None or not conversations:
            raise ValueError(f"unreadable line in {path.name}: {line!r}")
        conv = conversations[-1]
        conv.messages.append(ChatMessage(f"{conv.id}-m{len(conv.messages) + 1}", direction,
                                         line[2:].strip()))
    return conversations


def score_conversation(conv: Conversation, found: list[Detection], score: Score) -> None:
    """Pair proposals with labelled sales, exact values first; what is left over is wrong."""
    score.proposals += len(found)
    score.sales += len(conv.expected)
    open_sales = list(conv.expected)
    inexact: list[Detection] = []
    for detection in found:
        if detection.value in open_sales:
            open_sales.remove(detection.value)
            score.true_positives += 1
            score.value_exact += 1
        else:
            inexact.append(detection)
    for detection in inexact:
        if open_sales:
            wanted = open_sales.pop(0)
            score.true_positives += 1
            score.mistakes.append(f"{conv.id} ({conv.category}): value {detection.value}, "
                                  f"labelled {wanted}")
        else:
            score.mistakes.append(f"{conv.id} ({conv.category}): proposed {detection.value}, "
                                  "no sale")
    for missed in open_sales:
        score.mistakes.append(f"{conv.id} ({conv.category}): missed sale {missed}")


def evaluate(detector: SaleDetector, conversations: list[Conversation]) -> Score:
    score = Score()
    for conv in conversations:
        score_conversation(conv, detector.detect(conv.messages), score)
    return score


def report(name: str, score: Score, verbose: bool) -> str:
    lines = [f"{name:>8}: precision {score.precision:.3f}  recall {score.recall:.3f}  "
             f"value exact {score.value_accuracy:.3f}  "
             f"({score.true_positives} right of {score.proposals} proposals, "
             f"{score.sales} labelled sales)"]
    if verbose:
        lines += [f"          {m}" for m in score.mistakes]
    return "\n".join(lines)


def _llm_detector():
    from whatrack.integrations.llm import LLMSettings
    from whatrack.services.copilot.llm_detector import LLMDetector

    settings = LLMSettings(base_url=os.environ["LLM_BASE_URL"], model=os.environ["LLM_MODEL"],
                           api_key=os.environ.get("LLM_API_KEY"))
    return LLMDetector(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mistake")
    args = parser.parse_args(argv)

    from whatrack.services.copilot.builtin import BuiltinDetector

    conversations = load(args.set)
    print(f"{len(conversations)} conversations, "
          f"{sum(len(c.expected) for c in conversations)} labelled sales")
    print(report("builtin", evaluate(BuiltinDetector(), conversations), args.verbose))
    if os.environ.get("LLM_BASE_URL") and os.environ.get("LLM_MODEL"):
        print(report("llm", evaluate(_llm_detector(), conversations), args.verbose))
    else:
        print("     llm: not configured (set LLM_BASE_URL and LLM_MODEL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
