"""App-level dependencies: handlers receive the services by parameter name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from litestar.di import Provide

from libdib.bootstrap import Services

T = TypeVar("T")


def provide_all(services: Services) -> dict[str, Provide]:
    """The services by the parameter name handlers take them with, and ``settings``."""
    values = {
        "settings": services.settings,
        "user_service": services.users,
        "token_service": services.tokens,
        "dataset_service": services.datasets,
        "comparison_service": services.comparisons,
        "series_service": services.series,
    }
    return {name: Provide(_constant(value), use_cache=True, sync_to_thread=False) for name, value in values.items()}


def _constant(value: T) -> Callable[[], T]:
    def provide() -> T:
        return value

    return provide
