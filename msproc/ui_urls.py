"""Browser UI routes: login, the home page, and each app's pages. Every page needs a signed-in user."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

import sites.urls
from campaigns.views import HomeView, ReassignView
from core.views import ActionView

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("", HomeView.as_view(), name="home"),
    path("campaigns/", include("campaigns.urls")),
    # Reassigning a site's pending groups is a campaigns page under the site's URL (sites imports no app).
    path("sites/", include((sites.urls.urlpatterns + [
        path("<str:code>/reassign/", ReassignView.as_view(), name="reassign")], sites.urls.app_name))),
    path("transfers/", include("transfers.urls")),
    path("actions/<str:label>/<int:pk>/<str:verb>/", ActionView.as_view(), name="action"),
]
