"""Rucio adapters without the ORM: registration, ingest, the local test server and transfer tool."""
