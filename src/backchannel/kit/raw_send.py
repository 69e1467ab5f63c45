"""Keep the server's own ``send`` in the scope for long-lived streams.

Every middleware wraps ``send``; for a wall with thousands of clients that is several
extra calls per frame per client. The application stores the server's ``send`` in the
scope before any middleware runs (``BackchannelApp.__call__``); a stream sends its
response start through the chain (so headers are added as for any response) and its
body frames past it. This is safe because no middleware here changes or inspects
body messages.
"""

SCOPE_KEY = "backchannel.raw_send"
