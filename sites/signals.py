"""Signals the sites app sends; the apps above it connect to them (sites imports no app)."""

from django.dispatch import Signal

#: Sent with ``repo`` (a ButlerRepo) when a site's Butler repository has been (re)created and is ready.
repository_ready = Signal()
