"""A transfer backend that moves nothing: every movement arrives and verifies at once (benchmarks, tests)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from .base import MovementRequest, TransferBackend, TransferProgress


class NoopTransferBackend(TransferBackend):
    name = "noop"

    def start(self, request: MovementRequest) -> dict[str, Any]:
        time.sleep(settings.MSPROC_NOOP_TRANSFER_SECONDS)  # a slow registration (fault tests)
        return {"noop": request.key}

    def poll(self, requests: Sequence[tuple[MovementRequest, dict[str, Any]]]) -> dict[str, TransferProgress]:
        return {request.key: TransferProgress(state="arrived", transferred=request.expected_count or 0)
                for request, _ in requests}

    def ingest(self, request: MovementRequest) -> int:
        return request.expected_count or 0
