"""The user's API tokens page: create one (shown once), see and revoke your own."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from accounts.services import create_token, revoke_token, user_tokens
from core.htmx import ui_permissions


class TokensView(LoginRequiredMixin, View):
    """GET: your tokens. POST ``create``: a new token, shown on this answer only. POST ``revoke``: delete one."""

    template_name = "accounts/tokens.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("action") == "create":
            row, token = create_token(request.user)
            return self._render(request, new_token=token, new_key=row.token_key)
        key = request.POST.get("token_key", "")
        if request.POST.get("action") == "revoke" and revoke_token(request.user, key):
            messages.success(request, f"Token {key}… revoked.")
        else:
            messages.error(request, "You have no such token.")
        return redirect("accounts:tokens")

    def _render(self, request: HttpRequest, **extra: Any) -> HttpResponse:
        context = {"tokens": user_tokens(request.user), **ui_permissions(request.user), **extra}
        response = render(request, self.template_name, context)
        response["Cache-Control"] = "no-store"  # the page may hold a new token
        return response
