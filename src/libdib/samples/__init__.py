"""The sample P-8 workbooks libdib ships: the Asian and White tables, trimmed, as the first version served them.

U.S. Census Bureau data (Current Population Survey, Table P-8), in the public domain. They back
``libdib load --sample``, the development database's first start, the demo and the tests.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SAMPLE_RACES = ("asian", "white")
"""The race groups the samples cover, in the order the default comparison names them."""


def sample_dir() -> Path:
    """The folder holding the sample workbooks (inside the installed package)."""
    return Path(str(files(__name__)))


def sample_workbooks() -> list[Path]:
    """The sample workbooks, by file name."""
    return sorted(sample_dir().glob("*.xlsx"))
