"""Everything one server process holds, built by ``create_app`` and passed to the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from conveyor.monitoring.watch import Watcher
from conveyor.serving.dataplane import DataPlane
from conveyor.serving.features import FeatureLookup
from conveyor.serving.feedback import FeedbackDesk
from conveyor.serving.http import Offload
from conveyor.serving.inference_log import InferenceLogWriter
from conveyor.serving.manager import ModelManager
from conveyor.serving.metrics import ServerMetrics
from conveyor.serving.store_health import StoreHealth
from conveyor.settings import Settings
from conveyor.store.engine import Store
from conveyor.tracing import Tracing

if TYPE_CHECKING:
    from conveyor.rollout.controller import Controller


@dataclass
class ServerParts:
    settings: Settings
    store: Store
    metrics: ServerMetrics
    manager: ModelManager
    dataplane: DataPlane
    log_writer: InferenceLogWriter | None
    watcher: Watcher | None = None
    store_health: StoreHealth | None = None
    feedback: FeedbackDesk = field(kw_only=True)
    features: FeatureLookup | None = field(default=None, kw_only=True)  # by entity key
    offload: Offload = field(default_factory=Offload)  # large bodies decode off the loop
    tracing: Tracing = field(default_factory=Tracing)  # request spans; a no-op unless configured
    # the process's rollout controller: the leader loop and the admin endpoints share it
    rollouts: Controller = field(kw_only=True)
