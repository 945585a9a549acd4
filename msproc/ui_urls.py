"""Browser UI routes."""

urlpatterns: list = []
