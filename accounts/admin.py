"""The admin shows API tokens only through django-rest-knox (digests; a new token is shown once).

DRF's own token model stored keys in plain text; its rows were moved into knox (migration 0001) and its
admin is removed so nobody creates plain-text tokens again.
"""

from django.contrib import admin
from rest_framework.authtoken.models import Token, TokenProxy

for model in (Token, TokenProxy):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
