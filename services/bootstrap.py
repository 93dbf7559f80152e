"""Wiring: read the settings once and build the application from them."""

from __future__ import annotations

from domain.scoring import ScoringModel
from services.app.application import CrmApplication
from services.settings import Settings


def bootstrap(settings: Settings | None = None) -> CrmApplication:
    """Build the CRM application for the given settings (from the environment by default)."""
    settings = settings or Settings.from_env()
    scoring = ScoringModel(half_life_days=settings.scoring_half_life_days)
    return CrmApplication(env=settings.eventsourcing_env(), scoring=scoring)
