"""Several execution environments (separate processes) posting at once: exact count, order per poster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTERS, POSTS_EACH = 4, 25

POSTER = """
import os, sys, time
sys.path[:0] = ["servers", "."]
from messaging.server import handler
from tests.messaging.helpers import post
poster, count, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
post(handler, f"warm {poster}")          # cold start before the race begins
while time.time() < start_at:
    time.sleep(0.001)
for n in range(count):
    result = post(handler, f"{poster}:{n}")
    assert result["isError"] is False, result
handler.close()
"""


def test_concurrent_posters_all_arrive_in_order(messaging_url, admin):
    env = {**os.environ, "DATABASE_URL": messaging_url, "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_LOG_LEVEL": "WARNING"}
    start_at = time.time() + 4
    processes = [
        subprocess.Popen([sys.executable, "-c", POSTER, f"poster{p}", str(POSTS_EACH), str(start_at)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for p in range(POSTERS)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    rows = admin.run("SELECT content FROM messages WHERE content LIKE 'poster%:%' ORDER BY id")
    texts = [r[0] for r in rows]
    assert len(texts) == POSTERS * POSTS_EACH
    for p in range(POSTERS):
        mine = [t for t in texts if t.startswith(f"poster{p}:")]
        assert mine == [f"poster{p}:{n}" for n in range(POSTS_EACH)]
    interleaved = sum(1 for a, b in zip(texts, texts[1:]) if a.split(":")[0] != b.split(":")[0])
    assert interleaved > POSTERS, "the posters really ran at the same time"
