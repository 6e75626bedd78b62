"""Write the performance report into bench/README.md from the JSON files of one run_all.sh.

    .venv/bin/python bench/report.py RESULTS_DIR

Each line: our figure, the baseline measured in the same run, the ratio, the target and
whether it was met. The section between the two report markers of bench/README.md is
replaced; the rest of the file (how each bench works, history) is left as it is.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- report:start -->", "<!-- report:end -->"


def _load(folder: Path, name: str) -> dict | list | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(what: str, ours: str, base: str, ratio: str, target: str, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "**missed**")
    return f"| {what} | {ours} | {base} | {ratio} | {target} | {verdict} |"


def ingest_rows(data: dict | None) -> list[str]:
    if data is None:
        return ["| webhook intake | not run | | | | |"]
    ours, base = data["ours"], data["baseline"]
    return [
        _row("Webhook ACK throughput, 32 senders (req/s)", f"{ours['ack_rps']:.0f}",
             f"{base['ack_rps']:.0f} (bare handler)", f"{data['ratio']:.2f}x", ">= 1.0x",
             data["ratio"] >= 1.0),
        _row("Webhook ACK p99 (ms)", f"{ours['p99_ms']:.1f}", f"{base['p99_ms']:.1f}",
             f"{ours['p99_ms'] / base['p99_ms']:.2f}x", "< 50 ms", ours["p99_ms"] < 50),
        _row("One worker process drains (new-contact messages/s)",
             f"{data['drain_msg_s']:.0f}", f"{data['ours']['ack_rps']:.0f} accepted/s",
             f"{data['drain_msg_s'] / data['ours']['ack_rps']:.2f}x", ">= 300/s",
             data["drain_msg_s"] >= 300),
        _row("Webhooks lost (sent - stored - duplicates)", str(data["lost"]), "", "", "0",
             data["lost"] == 0 and data["missing_wamids"] == 0),
    ]


def capi_rows(data: dict | None) -> list[str]:
    if data is None:
        return ["| CAPI backlog | not run | | | | |"]
    ok = all(data.get("checks", {}).values())
    return [
        _row(f"CAPI backlog of {data['events']:,} events drained (s)",
             f"{data['drain_seconds']:.2f}", f"{data['baseline_seconds']:.2f} (same bodies, "
             "bare POSTs)", f"{data['ratio']:.2f}x", "<= 1.5x", data["ratio"] <= 1.5),
        _row("CAPI duplicates / failed = the poison events", f"{data['duplicated']} / "
             f"{data['failed']}", "", "", f"0 / {data['poison']}", ok),
    ]


def realtime_rows(data: list | None) -> list[str]:
    if not data:
        return ["| realtime | not run | | | | |"]
    rows = []
    for run in data:
        label = f"Webhook to frame, {run['clients']} sockets, {run['messages']} webhooks"
        rows.append(_row(f"{label}: p50 (ms)", f"{run['p50_ms']:.1f}",
                         f"{run['baseline_p50_ms']:.2f} (Redis PUBLISH)",
                         f"{run['p50_ms'] / run['baseline_p50_ms']:.0f}x", "< 15 ms",
                         run["p50_ms"] < 15))
        rows.append(_row(f"{label}: p99 (ms)", f"{run['p99_ms']:.1f}",
                         f"{run['baseline_p99_ms']:.2f}",
                         f"{run['p99_ms'] / run['baseline_p99_ms']:.0f}x", "< 60 ms",
                         run["p99_ms"] < 60))
        rows.append(_row("Frames lost", f"{run['lost_frames']} of {run['expected_frames']:,}",
                         "", "", "0", run["lost_frames"] == 0))
    return rows


def pages_rows(data: dict | None) -> list[str]:
    if data is None:
        return ["| pages at scale | not run | | | | |"]
    rows = []
    for item in data["requests"]:
        if not item["target"] and "search" not in item["request"]:
            continue
        target = "p95 < 50 ms, <= 6 SQL" if item["target"] else ""
        rows.append(_row(
            f"{item['request']} at {data['tickets']:,} tickets: p95 (ms) / SQL",
            f"{item['p95_ms']:.1f} / {item['queries']}",
            f"{item['baseline_p95_ms']:.1f} / {item['baseline_queries']} "
            f"({data['small_tickets']} tickets)",
            f"{item['p95_ms'] / item['baseline_p95_ms']:.2f}x", target,
            item["met"] if item["target"] else None))
    return rows


def render(folder: Path) -> str:
    meta = _load(folder, "run") or {}
    lines = [
        START,
        "## Performance report (`bench/run_all.sh`)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `{meta.get('commit', '?')}` "
        f"on {meta.get('cpus', '?')} CPUs, load average {meta.get('load_before', '?')} before "
        f"the run and {meta.get('load_after', '?')} after. Every baseline ran in the same "
        "run, on the same machine; the sections below say how each bench works.",
        "",
        "| measure | ours | baseline | ratio | target | |",
        "|---|---|---|---|---|---|",
        *ingest_rows(_load(folder, "ingest")),
        *capi_rows(_load(folder, "capi")),
        *realtime_rows(_load(folder, "realtime")),
        *pages_rows(_load(folder, "pages")),
        "",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    text = README.read_text()
    report = render(folder)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + report + rest.split(END, 1)[1]
    else:
        head, _, body = text.partition("\n\n")
        text = f"{head}\n\n{report}\n\n{body}"
    README.write_text(text)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
