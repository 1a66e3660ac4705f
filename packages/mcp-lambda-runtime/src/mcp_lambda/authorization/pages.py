"""The two pages a person sees: the consent page and the error page. Every value is escaped; the pages are
never cached and never framed (a framed Allow button can be clickjacked), and load nothing from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from mcp_lambda.events import HttpResponse

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}
main{max-width:30rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px #0001}
h1{font-size:1.25rem;margin:0 0 1rem} p{line-height:1.5} .muted{color:#5b6473;font-size:.9rem}
ul{padding-left:1.2rem} code{background:#f0f1f4;padding:.1rem .3rem;border-radius:4px}
.warn{background:#fff6e0;border:1px solid #f1d38a;padding:.6rem .8rem;border-radius:8px;font-size:.9rem}
form{display:flex;gap:.75rem;margin-top:1.5rem} button{flex:1;padding:.7rem;border-radius:8px;font-size:1rem;
border:1px solid #c7ccd6;background:#fff;cursor:pointer} button[value=allow]{background:#1f6feb;color:#fff;border:0}
"""

PAGE_HEADERS = [
    ("content-type", "text/html; charset=utf-8"),
    ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
]


@dataclass(frozen=True)
class ConsentView:
    client_name: str
    vouched_by: str | None
    redirect_host: str
    resource_name: str
    account: str
    scopes: tuple[str, ...]
    flow: str
    csrf: str


def consent_page(view: ConsentView, *, extra_headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    if view.vouched_by:
        who = f"<strong>{escape(view.client_name)}</strong> (published by <code>{escape(view.vouched_by)}</code>)"
        warning = ""
    else:
        who = f"<strong>{escape(view.client_name)}</strong>"
        warning = ('<p class="warn">This application registered itself: its name is its own claim. '
                   "Allow it only if you started this sign-in.</p>")
    scopes = "".join(f"<li><code>{escape(s)}</code></li>" for s in view.scopes) or "<li>signing in as you</li>"
    body = f"""<h1>Allow access to {escape(view.resource_name)}?</h1>
<p>{who} wants to use <strong>{escape(view.resource_name)}</strong> as <strong>{escape(view.account)}</strong>.</p>
<p>It will be able to:</p><ul>{scopes}</ul>
<p class="muted">After you answer, your browser goes back to <code>{escape(view.redirect_host)}</code>.</p>
{warning}
<form method="post" action="consent">
<input type="hidden" name="flow" value="{escape(view.flow)}">
<input type="hidden" name="csrf" value="{escape(view.csrf)}">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button>
</form>"""
    return _page(200, "Allow access?", body, extra_headers)


def error_page(status: int, title: str, message: str, *, extra_headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return _page(status, title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>", extra_headers)


def _page(status: int, title: str, body: str, extra_headers: list[tuple[str, str]] | None) -> HttpResponse:
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{_STYLE}</style>'
            f"</head><body><main>{body}</main></body></html>")
    return HttpResponse(status, [*PAGE_HEADERS, *(extra_headers or [])], html.encode())
