"""A transfer backend that moves nothing: every movement arrives and verifies at once (benchmarks, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import MovementRequest, TransferBackend, TransferProgress


class NoopTransferBackend(TransferBackend):
    name = "noop"

    def start(self, request: MovementRequest) -> dict[str, Any]:
        return {"noop": request.key}

    def poll(self, requests: Sequence[tuple[MovementRequest, dict[str, Any]]]) -> dict[str, TransferProgress]:
        return {request.key: TransferProgress(state="arrived", transferred=request.expected_count or 0)
                for request, _ in requests}

    def ingest(self, request: MovementRequest) -> int:
        return request.expected_count or 0
