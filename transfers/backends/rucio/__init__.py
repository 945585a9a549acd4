"""The Rucio transfer backend: the backend (``backend``) and its ORM-free registration and ingest helpers.

The local Rucio test server and its ``localcopy`` transfer tool live under ``tests/rucio/``.
"""
