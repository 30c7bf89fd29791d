"""The listener's life: its loop thread, its database pool, the pynetdicom server (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts, build_context
from pynetdicom.transport import ThreadedAssociationServer

from senhealth.core import db
from senhealth.fhir.store import FhirStore
from senhealth.imaging.config import ImagingConfig, get_config
from senhealth.imaging.storage import blob_store

if TYPE_CHECKING:
    from senhealth.core.config import Settings

__all__ = ["DicomListener", "start_dicom_listener"]

VERIFICATION = "1.2.840.10008.1.1"
#: Query/Retrieve SOP classes (PS3.4 C.6): Patient Root and Study Root, FIND and MOVE.
QUERY_RETRIEVE = (
    "1.2.840.10008.5.1.4.1.2.1.1",
    "1.2.840.10008.5.1.4.1.2.1.2",
    "1.2.840.10008.5.1.4.1.2.2.1",
    "1.2.840.10008.5.1.4.1.2.2.2",
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Transfer syntaxes accepted for storage: every one pynetdicom knows, so that compressed images are kept
#: as the modality sent them.
_ALL_SYNTAXES = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
    "1.2.840.10008.1.2.5",
]


class DicomListener:
    """A running listener; :meth:`stop` ends it (open associations are aborted)."""

    def __init__(
        self, settings: Settings, port: int, host: str = "127.0.0.1", config: ImagingConfig | None = None
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.config = config or get_config()
        self.blobs = blob_store(self.config, settings.data_dir)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="dicom-listener-db", daemon=True)
        self._pool: db.Pool | None = None
        self.store: FhirStore | None = None
        self.server: ThreadedAssociationServer | None = None

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the listener's loop and wait for its result (from a pynetdicom thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=timeout if timeout is not None else self.config.dimse_timeout_s * 4)

    async def _open(self) -> None:
        pool = db.create_pool(self.settings.database_url, min_size=1, max_size=4)
        await pool.open(wait=True, timeout=30)
        self._pool = pool
        self.store = FhirStore(pool)

    async def _close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        timeout = self.config.dimse_timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
        ae.maximum_associations = 32
        ae.add_supported_context(VERIFICATION)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, _ALL_SYNTAXES)
        for sop in QUERY_RETRIEVE:
            ae.add_supported_context(sop)
        # the C-MOVE sub-associations ask for what the instances need (handlers.move), not these
        ae.requested_contexts = [build_context(VERIFICATION)]
        return ae

    def start(self) -> DicomListener:
        from senhealth.imaging.dimse.handlers import Handlers

        self._thread.start()
        self.call(self._open(), timeout=60)
        handlers = Handlers(self)
        self.server = self._ae().start_server(
            (self.host, self.port),
            block=False,
            evt_handlers=[
                (evt.EVT_C_ECHO, handlers.echo),
                (evt.EVT_C_STORE, handlers.store),
                (evt.EVT_C_FIND, handlers.find),
                (evt.EVT_C_MOVE, handlers.move),
                (evt.EVT_CONN_CLOSE, handlers.closed),
            ],
        )
        log.info("DICOM listener %s on %s:%d", self.config.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop accepting, end the associations, close the pool and the loop."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        if self._thread.is_alive():
            try:
                self.call(self._close(), timeout=30)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout=30)
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.close()


def start_dicom_listener(
    settings: Settings, port: int, host: str = "127.0.0.1", config: ImagingConfig | None = None
) -> DicomListener | None:
    """Start the DICOM listener on ``host:port`` (the database of ``settings.database_url``, files under the
    imaging directory); None when ``port`` is 0. Call ``stop()`` on the result at shutdown."""
    if port == 0:
        return None
    if not 1 <= port <= 65535:
        raise ValueError(f"not a TCP port: {port}")
    return DicomListener(settings, port, host, config).start()
