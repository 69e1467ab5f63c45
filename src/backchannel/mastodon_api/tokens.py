"""OAuth use cases: register an app, hand out codes, exchange them, issue tokens.

Secrets, codes and tokens are random and stored only as SHA-256 hashes, so a leaked
database leaks nothing usable. Nothing here commits: writes run in the writer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from backchannel.errors import Unprocessable
from backchannel.kit.clock import utcnow
from backchannel.kit.ids import new_id
from backchannel.mastodon_api import repository as repo
from backchannel.mastodon_api import scopes as scope_rules
from backchannel.mastodon_api.models import AppToken, AuthorizationCode, OAuthApp, TokenApp
from backchannel.people.models import Account, ApiToken
from backchannel.people.schemas import clean_text
from backchannel.people.service import token_hash

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
_BAD_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob"})


class OAuthError(Exception):
    """An OAuth 2 error (RFC 6749 §5.2): ``{"error": code, "error_description": …}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


def parse_redirect_uris(raw: list[str]) -> list[str]:
    uris: list[str] = []
    for value in raw:
        uris.extend(u.strip() for u in value.split() if u.strip())
    if not uris:
        raise Unprocessable("Validation failed: Redirect URI can't be blank")
    for uri in uris:
        if uri == OOB:
            continue
        parts = urlsplit(uri)
        if (
            len(uri) > 2000
            or not parts.scheme
            or parts.scheme.lower() in _BAD_SCHEMES
            or parts.fragment
            or any(c <= " " for c in uri)
        ):
            raise Unprocessable("Validation failed: Redirect URI must be an absolute URI.")
    return uris


@dataclass
class NewApp:
    app: OAuthApp
    client_secret: str


def create_app(
    session: AsyncSession,
    name: str,
    redirect_uris: list[str],
    scopes: list[str],
    website: str | None,
) -> NewApp:
    bad = scope_rules.unknown(scopes)
    if bad:
        raise Unprocessable(f"Validation failed: Scopes {' '.join(bad)} are not valid scopes")
    name = clean_text(name, 255)
    if not name:
        raise Unprocessable("Validation failed: Application name can't be blank")
    secret = secrets.token_urlsafe(32)
    app = OAuthApp(
        id=new_id(),
        client_id=secrets.token_urlsafe(32),
        client_secret_hash=token_hash(secret),
        name=name,
        website=website,
        redirect_uris="\n".join(redirect_uris),
        scopes=" ".join(scopes),
        created_at=utcnow(),
    )
    session.add(app)
    return NewApp(app, secret)


async def authenticate_client(
    session: AsyncSession, client_id: str | None, client_secret: str | None
) -> OAuthApp:
    app = await repo.app_by_client_id(session, client_id or "")
    if app is None or not client_secret:
        raise OAuthError("invalid_client", "Client authentication failed.", 401)
    if not hmac.compare_digest(app.client_secret_hash, token_hash(client_secret)):
        raise OAuthError("invalid_client", "Client authentication failed.", 401)
    return app


def check_request(app: OAuthApp, redirect_uri: str, wanted: list[str]) -> None:
    if redirect_uri not in app.redirect_uris.split("\n"):
        raise OAuthError("invalid_redirect_uri", "The redirect URI is not registered for this app.")
    if scope_rules.unknown(wanted) or not scope_rules.subset(wanted, app.scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope is not allowed for this app.")


def issue_code(
    session: AsyncSession,
    app: OAuthApp,
    account: Account,
    redirect_uri: str,
    wanted: list[str],
    code_challenge: str | None,
) -> str:
    code = secrets.token_urlsafe(32)
    session.add(
        AuthorizationCode(
            code_hash=token_hash(code),
            app_id=app.id,
            account_id=account.id,
            redirect_uri=redirect_uri,
            scopes=" ".join(wanted),
            code_challenge=code_challenge,
            expires_at=utcnow() + CODE_LIFETIME,
        )
    )
    return code


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def exchange_code(
    session: AsyncSession,
    app: OAuthApp,
    code: str,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> tuple[str, str]:
    """(access token, scopes) for a code; the code is spent whatever the outcome."""
    stored = await repo.take_code(session, token_hash(code)) if len(code) <= 512 else None
    if stored is None or stored.app_id != app.id or stored.expires_at < utcnow():
        raise OAuthError("invalid_grant", "The authorization code is invalid or has expired.")
    if redirect_uri is not None and redirect_uri != stored.redirect_uri:
        raise OAuthError("invalid_grant", "The redirect URI does not match the authorization.")
    if stored.code_challenge is not None:
        if not code_verifier or not hmac.compare_digest(s256(code_verifier), stored.code_challenge):
            raise OAuthError("invalid_grant", "The PKCE code verifier does not match.")
    token = await issue_user_token(
        session, stored.account_id, stored.scopes, app.name, app_id=app.id
    )
    return token, stored.scopes


async def issue_user_token(
    session: AsyncSession, account_id: int, granted: str, name: str, *, app_id: int | None = None
) -> str:
    """A bearer token for a person with these scopes; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    session.add(ApiToken(token_hash=hashed, account_id=account_id, name=name[:255], scopes=granted))
    if app_id is not None:
        await session.flush()  # the token row first: the link refers to it
        session.add(TokenApp(token_hash=hashed, app_id=app_id))
    return token


def issue_app_token(session: AsyncSession, app: OAuthApp, granted: str) -> str:
    token = secrets.token_urlsafe(32)
    session.add(AppToken(token_hash=token_hash(token), app_id=app.id, scopes=granted))
    return token
