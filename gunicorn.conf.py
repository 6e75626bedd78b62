"""Read by gunicorn from the working directory (``gunicorn wsgi:app`` in /app or the repo root).

Forwarding headers are trusted in ONE place, the app's ProxyFix, sized by TRUSTED_PROXIES.
gunicorn would otherwise honour X-Forwarded-Proto from any client on 127.0.0.1 by itself,
whatever TRUSTED_PROXIES says.

Metrics (decisions.md D37): gunicorn's worker processes each count for themselves, and a
scrape of /metrics reaches one of them. prometheus_client's multiprocess mode makes each
process write its values to files in ``PROMETHEUS_MULTIPROC_DIR``, which the answering process
sums. Set here, in the master, before any worker is forked and imports the client; a fresh
directory per master, as values left by an earlier run would be added to this one's.
"""

import glob
import os
import shutil
import tempfile

forwarded_allow_ips = ""

_metrics_dir_is_ours = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_dir_is_ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="whatrack-metrics-")
else:
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    for _stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(_stale)


def child_exit(server, worker):
    # A dead worker's open-websocket gauge must stop counting; its counters stay summed.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
