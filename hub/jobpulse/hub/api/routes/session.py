"""Browser sessions: a read (or write) token exchanged for a signed, expiring cookie, so a page
never puts a token in a URL or in script-readable storage. The cookie is accepted on reads
and streams only; writes never take it (api/access.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from jobpulse.hub import errors
from jobpulse.hub.api.access import SESSION_COOKIE, Access, client_address, get_access
from jobpulse.hub.api.deps import Public
from jobpulse.hub.api.openapi import problems
from jobpulse.hub.schemas import SessionCreate, SessionPublic

router = APIRouter(prefix="/session", tags=["session"], dependencies=[Public])


@router.post("", response_model=SessionPublic, responses=problems(401, 429))
def log_in(body: SessionCreate, request: Request, response: Response) -> SessionPublic:
    access: Access = get_access(request)
    address = client_address(request)
    access.check_limit(address)
    if not access.sessions_possible:
        raise errors.WritesDisabled("sessions are disabled: no read or write token is set on the hub")
    if access.token_scope(body.token.get_secret_value()) is None:
        raise access.refuse(address, "POST /api/v1/session", "invalid token", errors.AuthError("invalid token"))
    cookie, expires = access.new_session()
    response.set_cookie(SESSION_COOKIE, cookie, max_age=access.settings.session_seconds, path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return SessionPublic(expires_at=datetime.fromtimestamp(expires, UTC).replace(tzinfo=None))


@router.delete("", status_code=204, response_class=Response)
def log_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
