"""The HTML of the OAuth pages: small, self-contained, every value escaped."""

from __future__ import annotations

from html import escape

from backchannel.mastodon_api.models import OAuthApp
from backchannel.people.models import Account

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}ul{padding-left:1.2rem}label{display:block;margin:.6rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.4rem;font:inherit}
button{font:inherit;padding:.45rem 1rem;margin:.8rem .5rem 0 0;cursor:pointer}
.approve{background:#2b5fd9;color:#fff;border:0;border-radius:4px}
code{font-size:1.1rem;word-break:break-all;background:#f3f3f3;padding:.3rem}
"""

_SCOPE_WORDS = {
    "read": "read your account, posts, follows and timelines",
    "write": "post, edit and delete in your name, favourite, boost and follow",
    "follow": "see and change whom you follow",
    "push": "receive push notifications",
    "profile": "see your profile",
}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · backchannel</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def error_page(message: str) -> str:
    return _page("Authorisation failed", f"<h1>Authorisation failed</h1><p>{escape(message)}</p>")


def sign_in_page(app_name: str, next_path: str, csrf: str) -> str:
    body = (
        f"<h1>Sign in to authorise {escape(app_name)}</h1>"
        '<form method=post action="/auth/login">'
        f'<input type=hidden name=next value="{escape(next_path)}">'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        "<label for=username>Username</label>"
        "<input type=text id=username name=username autocomplete=username required>"
        "<label for=password>Password</label>"
        "<input type=password id=password name=password autocomplete=current-password required>"
        "<button class=approve type=submit>Sign in</button></form>"
    )
    return _page("Sign in", body)


def consent_page(
    app: OAuthApp, account: Account, wanted: list[str], fields: dict[str, str], csrf: str
) -> str:
    scopes = "".join(
        f"<li><b>{escape(s)}</b>: {escape(_SCOPE_WORDS.get(s.split(':')[0], s))}</li>"
        for s in wanted
    )
    hidden = "".join(
        f'<input type=hidden name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    site = f' (<a href="{escape(app.website)}">{escape(app.website)}</a>)' if app.website else ""
    body = (
        f"<h1>Authorise {escape(app.name)}?</h1>"
        f"<p><b>{escape(app.name)}</b>{site} asks to use your account "
        f"<b>@{escape(account.username)}</b> to:</p><ul>{scopes}</ul>"
        f'<form method=post action="/oauth/authorize">{hidden}'
        f'<input type=hidden name=csrf_token value="{escape(csrf)}">'
        "<button class=approve type=submit name=decision value=approve>Authorise</button>"
        "<button type=submit name=decision value=deny>Deny</button></form>"
    )
    return _page("Authorise", body)


def oob_page(app_name: str, code: str) -> str:
    body = (
        f"<h1>{escape(app_name)} is authorised</h1>"
        f"<p>Copy this code into the app:</p><p><code id=code>{escape(code)}</code></p>"
    )
    return _page("Authorised", body)
