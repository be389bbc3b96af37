"""The base of every connector's `params` model (pydantic only: `harvester validate` imports it, and the params
modules of the heavy connectors, without the connectors themselves)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base of every connector's params model: unknown keys are an error, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
