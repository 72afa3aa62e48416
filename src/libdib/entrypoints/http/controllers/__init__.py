"""Every controller of the API, in the order the docs list them."""

from __future__ import annotations

from libdib.entrypoints.http.controllers.auth import AuthController
from libdib.entrypoints.http.controllers.comparisons import ComparisonController
from libdib.entrypoints.http.controllers.datasets import DatasetController, LegacyLoadController
from libdib.entrypoints.http.controllers.docs import DocsController
from libdib.entrypoints.http.controllers.explorer import ExplorerController
from libdib.entrypoints.http.controllers.records import RecordController
from libdib.entrypoints.http.controllers.series import DimensionsController, SeriesController
from libdib.entrypoints.http.controllers.system import SystemController
from libdib.entrypoints.http.controllers.users import UserController

CONTROLLERS = (
    AuthController,
    UserController,
    DatasetController,
    LegacyLoadController,
    RecordController,
    ComparisonController,
    SeriesController,
    DimensionsController,
    SystemController,
    DocsController,
    ExplorerController,
)
