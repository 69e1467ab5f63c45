"""CSRF protection for writes authenticated by the page session cookie.

A bearer token is never sent by a browser on its own, so requests carrying one need
nothing more. A session cookie is: a write that relies on it must also carry the
session's CSRF token, which only a page of this site can read — in the
``X-CSRF-Token`` header (``fetch`` from our scripts) or the ``csrf_token`` form field
(forms). The session cookie is also ``SameSite=Lax``; the token covers old browsers
and sibling subdomains, where SameSite alone does not.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

SESSION_KEY = "csrf"
HEADER = "x-csrf-token"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_for(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def is_valid(session: MutableMapping[str, Any], candidate: str | None) -> bool:
    expected = session.get(SESSION_KEY)
    if not isinstance(expected, str) or not expected or not candidate:
        return False
    return hmac.compare_digest(expected.encode(), candidate.encode())
