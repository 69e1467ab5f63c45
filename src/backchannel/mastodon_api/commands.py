"""What ``backchannel token`` does: a bearer token for a local account, for bots."""

from __future__ import annotations

from backchannel.config import Settings
from backchannel.errors import NotFound, Unprocessable
from backchannel.mastodon_api import scopes as scope_rules
from backchannel.mastodon_api.tokens import issue_user_token
from backchannel.people import service as people


async def issue_token(settings: Settings, username: str, scopes: str) -> str:
    """A new token for ``username`` with ``scopes``; only its hash is stored."""
    from backchannel.db.engine import engine_for, make_sessionmaker

    wanted = scope_rules.parse(scopes)
    bad = scope_rules.unknown(wanted)
    if bad:
        raise Unprocessable(f"unknown scopes: {' '.join(bad)}")
    engine = engine_for(settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            account = await people.account_by_acct(session, username)
            if account is None or not account.is_local:
                raise NotFound(f"no local account '{username}'")
            if account.is_suspended:
                raise Unprocessable(f"the account '{username}' is suspended")
            return await issue_user_token(
                session, account.id, " ".join(wanted), "backchannel token"
            )
    finally:
        await engine.dispose()
