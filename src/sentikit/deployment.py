"""The result type shared by every deployment target (local Docker engine, Azure Container Instances)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Deployment:
    """Where a deployed model runs and in what state."""

    name: str
    target: str  # "local" or "azure"
    state: str  # e.g. "Running", "Succeeded", "Failed", "Pending", "NotFound"
    url: Optional[str] = None
    image: Optional[str] = None
    detail: dict[str, object] = field(default_factory=dict)  # target-specific, never secrets
