"""UI routes of the user's own account: API tokens."""

from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.TokensView.as_view(), name="tokens"),
]
