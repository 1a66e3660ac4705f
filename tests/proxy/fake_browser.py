"""A scripted browser for the proxy's sign-in tests: `$BROWSER` runs it with the authorization URL.

It does what a user's browser does without a user: GET the authorization URL, take the redirect the
authorization server answers with, and GET that (the proxy's loopback callback). Environment:

- FAKE_BROWSER_LOG: a file each visited URL and status is appended to (one JSON object per line).
- FAKE_BROWSER_MODE: `follow` (default); `tamper-state` replaces the redirect's `state` with another
  value, as a forged or stale redirect would carry; `ignore` visits nothing (a user who walks away).
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx


def record(**entry: object) -> None:
    path = os.environ.get("FAKE_BROWSER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def main(url: str) -> int:
    mode = os.environ.get("FAKE_BROWSER_MODE", "follow")
    record(visit=url, mode=mode)
    if mode == "ignore":
        return 0
    with httpx.Client(timeout=30) as http:
        answer = http.get(url, follow_redirects=False)
        record(status=answer.status_code, location=answer.headers.get("location"))
        location = answer.headers.get("location")
        if answer.status_code not in (301, 302, 303, 307) or not location:
            return 1
        if mode == "tamper-state":
            parts = urlsplit(location)
            query = [(k, "forged-state" if k == "state" else v) for k, v in parse_qsl(parts.query)]
            location = urlunsplit(parts._replace(query=urlencode(query)))
        callback = http.get(location, follow_redirects=False)
        record(callback=location.split("?")[0], status=callback.status_code, body=callback.text[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
