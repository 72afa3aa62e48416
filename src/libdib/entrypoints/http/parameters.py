"""Path parameters shared by the controllers."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter

MAX_ID = 2**63 - 1
"""The largest id a BIGINT column holds: a larger one is refused as a bad request, never sent to the database."""

UserId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The user's id")]
DatasetId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The dataset's id")]
RecordId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The record's id")]
