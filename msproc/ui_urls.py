"""Browser UI routes: login, the home page, and each app's pages. Every page needs a signed-in user."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from campaigns.views import HomeView
from core.views import ActionView

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", HomeView.as_view(), name="home"),
    path("campaigns/", include("campaigns.urls")),
    path("sites/", include("sites.urls")),
    path("transfers/", include("transfers.urls")),
    path("actions/<str:label>/<int:pk>/<str:verb>/", ActionView.as_view(), name="action"),
]
