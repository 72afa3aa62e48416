"""Datasets: load the configured workbooks, upload one, list and delete loaded tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from litestar import Controller, delete, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import MultipartBody

from libdib.config import Settings
from libdib.domain.datasets import DatasetService
from libdib.domain.errors import TooLarge
from libdib.domain.ports import Workbook
from libdib.entrypoints.http.auth import requires_admin
from libdib.entrypoints.http.etags import DataETagMiddleware
from libdib.entrypoints.http.parameters import DatasetId
from libdib.entrypoints.http.schemas.census import DatasetListResponse, DatasetResponse, LoadResponse

LOAD_ERRORS = {
    422: ResponseSpec(
        None, description="A workbook cannot be fetched or is not a P-8 table; `detail` names it and the row"
    ),
}


@dataclass
class WorkbookUpload:
    """The multipart form of an upload: one ``.xlsx`` workbook in the field ``file``."""

    file: UploadFile


async def load_configured(dataset_service: DatasetService) -> LoadResponse:
    """Load every workbook of ``LIBDIB_CENSUS_SOURCE`` (shared by the current route and the deprecated one)."""
    return LoadResponse.from_domain(await dataset_service.load())


class DatasetController(Controller):
    """``/datasets``: reading needs an access token, changing needs an admin."""

    path = "/datasets"
    tags = ["datasets"]  # noqa: RUF012 - Litestar reads it as a class attribute
    middleware = [DataETagMiddleware]  # noqa: RUF012 - every GET is tagged with the data version

    @post(
        "/load",
        operation_id="LoadDatasets",
        summary="Load every configured workbook, replacing the tables they hold",
        status_code=200,
        guards=[requires_admin],
        responses=LOAD_ERRORS,
    )
    async def load(self, dataset_service: NamedDependency[DatasetService]) -> LoadResponse:
        """Fetches and reads every workbook of `LIBDIB_CENSUS_SOURCE`, then replaces their tables in one transaction.

        All or nothing: on any error no table changes, and `detail` names the workbook and the row.
        """
        return await load_configured(dataset_service)

    @post(
        "/",
        operation_id="UploadDataset",
        summary="Upload one P-8 workbook, replacing the table of its race group",
        guards=[requires_admin],
        responses={
            413: ResponseSpec(None, description="The file is larger than `LIBDIB_MAX_UPLOAD_BYTES`"),
            422: ResponseSpec(None, description="The file is not a P-8 `.xlsx` workbook; `detail` says where"),
        },
    )
    async def upload(
        self,
        data: MultipartBody[WorkbookUpload],
        settings: NamedDependency[Settings],
        dataset_service: NamedDependency[DatasetService],
    ) -> DatasetResponse:
        """Send `multipart/form-data` with the workbook in the field `file`. Nothing changes when it is refused."""
        content = await data.file.read(settings.max_upload_bytes + 1)
        if len(content) > settings.max_upload_bytes:
            raise TooLarge(f"file: the workbook is larger than the limit of {settings.max_upload_bytes:,} bytes")
        name = PurePosixPath(data.file.filename.replace("\\", "/")).name
        dataset = await dataset_service.upload(Workbook(name, content))
        return DatasetResponse.from_domain(dataset)

    @get("/", operation_id="ListDatasets", summary="Every loaded table, with where it came from")
    async def list_datasets(self, dataset_service: NamedDependency[DatasetService]) -> DatasetListResponse:
        """One dataset per race group: source, SHA-256 of the workbook, rows, first and last year, load time."""
        datasets = await dataset_service.list_datasets()
        return DatasetListResponse(items=[DatasetResponse.from_domain(dataset) for dataset in datasets])

    @delete(
        "/{dataset_id:int}",
        operation_id="DeleteDataset",
        summary="Delete a loaded table and all its records",
        guards=[requires_admin],
        responses={404: ResponseSpec(None, description="No such dataset")},
    )
    async def delete_dataset(self, dataset_id: DatasetId, dataset_service: NamedDependency[DatasetService]) -> None:
        """Removes the dataset and every record of it, including records added by hand."""
        await dataset_service.delete_dataset(dataset_id)


class LegacyLoadController(Controller):
    """The first version's load route, kept for its clients."""

    path = "/data"
    tags = ["datasets"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/load_pickle",
        operation_id="LoadPickle",
        summary="Deprecated: use POST /datasets/load",
        status_code=200,
        guards=[requires_admin],
        deprecated=True,
        responses=LOAD_ERRORS,
    )
    async def load_pickle(self, dataset_service: NamedDependency[DatasetService]) -> LoadResponse:
        """Does exactly what `POST /datasets/load` does (there is no pickle any more)."""
        return await load_configured(dataset_service)
