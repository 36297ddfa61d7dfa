"""GET /v1/me: the caller's role and name, so that a client (the console) shows what the key may do
instead of guessing it from refusals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.auth import Principal
from api.deps import require_role
from api.schemas import Caller, error_responses

router = APIRouter(prefix="/v1/me", tags=["access"], responses=error_responses(401))

AnyUser = Annotated[Principal, require_role("intake", "agent", "analyst")]


@router.get("", response_model=Caller, summary="The caller's role and name")
def me(principal: AnyUser) -> Caller:
    """The role of the API key sent (`intake`, `agent`, `analyst` or `admin`) and its name, the
    actor recorded for its changes."""
    return Caller(role=principal.role, name=principal.name)
