"""Who is behind a token, for one request: the API's bearer token and the console's session
token are both resolved here, by the token store on every request (so an expired or revoked
token is refused from the very next one) or by `crm serve`'s short cache of its lookups
(`services.auth.token_cache`: a revocation in another process reaches it within
`CRM_TOKEN_CACHE_SECONDS`), into the request's `Caller`, or refused with its reason, logged as
a denial."""

from __future__ import annotations

from services.auth.access import AccessRecorder, Caller, log_denial
from services.auth.policy import Authenticator, Principal, Refusal
from services.auth.token_cache import TokenCache


def caller_behind(
    tokens: Authenticator,
    token: str,
    *,
    request_id: str,
    method: str,
    path: str,
    route: str,
    access_log: AccessRecorder | None,
) -> Caller | Refusal:
    """The caller behind `token` on this request, or why the token is refused (logged)."""
    principal = tokens.resolve(token)
    if not isinstance(principal, Principal):
        log_denial(principal.value, method=method, path=path, request_id=request_id)
        return principal
    return Caller(principal, request_id, method, path, route=route, access_log=access_log)


def cached_caller(
    tokens: Authenticator,
    token: str,
    *,
    request_id: str,
    method: str,
    path: str,
    route: str,
    access_log: AccessRecorder | None,
) -> Caller | None:
    """The caller behind `token` when a cache of lookups (`TokenCache`) knows it as valid, without
    asking the store (no I/O: it may run on the event loop); None when the store must be asked."""
    principal = tokens.cached(token) if isinstance(tokens, TokenCache) else None
    if principal is None:
        return None
    return Caller(principal, request_id, method, path, route=route, access_log=access_log)
