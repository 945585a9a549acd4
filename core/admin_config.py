"""``django.contrib.admin`` with msproc's site (``core.admin_site``) as ``admin.site``; INSTALLED_APPS names it.

A module of its own: settings import it before any model may be, so it imports only the AppConfig.
"""

from django.contrib.admin.apps import AdminConfig


class MsprocAdminConfig(AdminConfig):
    default_site = "core.admin_site.MsprocAdminSite"
