"""Transfer backends: how a movement's data reaches its destination Butler (local Butler transfer, Rucio)."""

from .base import MovementRequest, TransferBackend, TransferBackendError, TransferProgress, get_transfer_backend

__all__ = ["MovementRequest", "TransferBackend", "TransferBackendError", "TransferProgress", "get_transfer_backend"]
