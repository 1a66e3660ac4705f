"""A scripted browser that signs in through forms: `$BROWSER` runs it with the authorization URL.

fake_browser.py follows an authorization server that redirects at once; `make serve`'s authorization server
(mcp_lambda.authorization) asks twice: the development issuer's sign-in page (email, groups), then its own
consent page. This one does what a person does: follow each redirect (keeping cookies, as a browser does),
fill in each form's fields as the page gave them, type the email, press a button, until the browser lands on
the client's redirect URI, which it opens. Environment:

- FAKE_BROWSER_LOG: a file each step is appended to (one JSON object per line).
- FAKE_BROWSER_EMAIL: what to type into an `email` field (default: leave the page's value).
- FAKE_BROWSER_GROUPS: what to type into a `groups` field (default: leave the page's value).
- FAKE_BROWSER_BUTTON: the `value` of the consent button to press (default: allow).
"""

from __future__ import annotations

import json
import os
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

MAX_STEPS = 8


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


def choose(form: Form, consent: str) -> tuple[str, str] | None:
    """The button a person presses: the first (Sign in) on a sign-in page, `consent` on a consent page."""
    values = [value for _, value in form.buttons]
    wanted = consent if "allow" in values else values[0] if values else None
    return next((b for b in form.buttons if b[1] == wanted), None)


def walk(http: httpx.Client, url: str, *, typed: dict[str, str] | None = None, consent: str = "allow") -> str | None:
    """Go through the pages from `url` as a person would, typing `typed` into the fields of those names and
    answering `consent` (allow or deny); the URL the browser is finally sent to (the client's redirect URI, on
    another origin), or None when a page could not be answered."""
    origin = urlsplit(url).netloc
    answer = http.get(url, follow_redirects=False)
    for _ in range(MAX_STEPS):
        location = answer.headers.get("location")
        if answer.status_code in (301, 302, 303, 307) and location:
            target = urljoin(str(answer.url), location)
            if urlsplit(target).netloc != origin:
                return target
            record(redirect=target.split("?")[0])
            answer = http.get(target, follow_redirects=False)
            continue
        record(status=answer.status_code, page=answer.text[:3000])
        if answer.status_code != 200:
            return None
        form = Form()
        form.feed(answer.text)
        button = choose(form, consent)
        if form.action is None or button is None:
            return None
        fields = {**form.fields, **{k: v for k, v in (typed or {}).items() if k in form.fields}}
        answer = http.post(urljoin(str(answer.url), form.action), data={**fields, button[0]: button[1]},
                           follow_redirects=False)
        record(submitted=sorted(fields), button=button[1], status=answer.status_code,
               location=answer.headers.get("location"))
    return None


def main(url: str) -> int:
    record(visit=url)
    with httpx.Client(timeout=30) as http:
        typed = {field: os.environ[variable] for field, variable in
                 (("email", "FAKE_BROWSER_EMAIL"), ("groups", "FAKE_BROWSER_GROUPS")) if variable in os.environ}
        target = walk(http, url, typed=typed, consent=os.environ.get("FAKE_BROWSER_BUTTON", "allow"))
        if target is None:
            return 1
        callback = http.get(target, follow_redirects=False)
        record(callback=target.split("?")[0], query=urlsplit(target).query, status=callback.status_code,
               body=callback.text[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
