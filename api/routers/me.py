"""GET /v1/me: the caller's role and name, so that a client (the console) shows what the key may do
instead of guessing it from refusals, and the business time zone its times are shown in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.auth import Principal
from api.deps import SettingsDep, require_role
from api.schemas import Caller, error_responses

router = APIRouter(prefix="/v1/me", tags=["access"], responses=error_responses(401))

AnyUser = Annotated[Principal, require_role("intake", "agent", "analyst")]


@router.get("", response_model=Caller, summary="The caller's role and name, and the business time zone")
def me(principal: AnyUser, settings: SettingsDep) -> Caller:
    """The role of the API key sent (`intake`, `agent`, `analyst` or `admin`), its name (the actor
    recorded for its changes) and the business time zone."""
    return Caller(role=principal.role, name=principal.name, timezone=settings.timezone)
