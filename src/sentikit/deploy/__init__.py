"""Deployment targets behind one interface (:class:`~.base.Target`), one options object and one result.

* :mod:`.base`: :class:`DeployOptions`, :class:`Deployment`, the :class:`Target` protocol and the registry of targets.
* :mod:`.readiness`: the one readiness poll and smoke test.
* :mod:`.local`: the local Docker engine (``--target local``).
* :mod:`.aci`: Azure Container Instances (``--target azure``).

The target modules load on first use (:func:`get_target`), so the Azure SDK stays unloaded for local deployments.
"""

from __future__ import annotations

from .base import (
    TARGET_MODULES,
    Deployment,
    DeployOptions,
    ProgressCallback,
    Target,
    get_target,
    parse_env_pairs,
    register_target,
    target_names,
)
from .readiness import SMOKE_TEXT, smoke_test, wait_ready

__all__ = [
    "SMOKE_TEXT", "TARGET_MODULES", "Deployment", "DeployOptions", "ProgressCallback", "Target", "get_target",
    "parse_env_pairs", "register_target", "smoke_test", "target_names", "wait_ready",
]
