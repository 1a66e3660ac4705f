"""A scripted browser that fills in a sign-in form: `$BROWSER` runs it with the authorization URL.

fake_browser.py follows an authorization server that redirects at once; a real sign-in page (the
development issuer's, mcp_lambda/local/oidc_authorize.py) asks first. This one does what a user does there:
GET the page, fill in the form's fields as the page gave them, type the email, press a button (the
form's first, or the one named), and follow the redirect to the proxy's loopback callback. Environment:

- FAKE_BROWSER_LOG: a file each step is appended to (one JSON object per line).
- FAKE_BROWSER_EMAIL: what to type into the `email` field (default: leave the page's value).
- FAKE_BROWSER_BUTTON: the `value` of the button to press (default: the first button).
"""

from __future__ import annotations

import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


def record(**entry: object) -> None:
    path = os.environ.get("FAKE_BROWSER_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


class Form(HTMLParser):
    """The first form of a page: its action, its fields' initial values, and its buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif self.action is not None and not self._done and "name" in a:
            if tag == "button" or (tag == "input" and a.get("type") == "submit"):
                self.buttons.append((a["name"], a.get("value", "")))
            elif tag == "input":
                self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._done = True


def main(url: str) -> int:
    record(visit=url)
    with httpx.Client(timeout=30) as http:
        answer = http.get(url, follow_redirects=False)
        record(status=answer.status_code, page=answer.text[:2000])
        if answer.status_code == 200:
            form = Form()
            form.feed(answer.text)
            if form.action is None or not form.buttons:
                return 1
            fields = dict(form.fields)
            if "FAKE_BROWSER_EMAIL" in os.environ:
                fields["email"] = os.environ["FAKE_BROWSER_EMAIL"]
            wanted = os.environ.get("FAKE_BROWSER_BUTTON")
            button = next((b for b in form.buttons if wanted in (None, b[1])), None)
            if button is None:
                return 1
            answer = http.post(urljoin(url, form.action), data={**fields, button[0]: button[1]},
                               follow_redirects=False)
            record(submitted=sorted(fields), button=button[1], status=answer.status_code,
                   location=answer.headers.get("location"))
        location = answer.headers.get("location")
        if answer.status_code not in (301, 302, 303, 307) or not location:
            return 1
        callback = http.get(location, follow_redirects=False)
        record(callback=location.split("?")[0], status=callback.status_code, body=callback.text[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
