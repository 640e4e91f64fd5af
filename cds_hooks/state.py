"""What the app holds for its lifetime, and the typed dependencies routes ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from cds_hooks.feedback_store import FeedbackStore, IssuedCardLog
from cds_hooks.settings import Settings
from plugin.claim_check import ClaimChecker


@dataclass(slots=True)
class AppState:
    settings: Settings
    checker: ClaimChecker
    store: FeedbackStore
    http: httpx.AsyncClient
    issued: IssuedCardLog


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.traction
    return state


StateDep = Annotated[AppState, Depends(get_state)]
