"""Who may write: SPARQL Update and Graph Store writes need the bearer token."""

from __future__ import annotations

import hmac

from flask import request

from server.settings import Settings
from server.web.errors import ApiError


def require_write_token(settings: Settings, action: str) -> None:
    """403 when writes are disabled, 401 when the bearer token is missing or wrong."""
    if not settings.update_token:
        raise ApiError(403, f"{action} are disabled on this server; set KG_UPDATE_TOKEN to "
                       "enable them (clients then send Authorization: Bearer <token>)")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, f"{action} need an Authorization: Bearer <token> header",
                       headers={"WWW-Authenticate": 'Bearer realm="scholarkg"'})
    if not hmac.compare_digest(token.strip().encode("utf-8"),
                               settings.update_token.encode("utf-8")):
        raise ApiError(401, "the bearer token is not valid for this server",
                       headers={"WWW-Authenticate":
                                'Bearer realm="scholarkg", error="invalid_token"'})
