"""HTTP routes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView

from chat.ops import health, monitoring
from chat.web import accounts_views, tokens_views, views
from chat.web.api import api

urlpatterns = [
    path("", views.home, name="home"),
    re_path(r"^r/(?P<room>[^/]+)/$", views.room, name="room"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    path("status", monitoring.status_view, name="status"),
    path("status/queues", monitoring.queues_view, name="status-queues"),
    path("api-docs", RedirectView.as_view(url="/api/docs", permanent=False), name="api-docs"),
    path("accounts/signup/", accounts_views.signup, name="signup"),
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", accounts_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", tokens_views.tokens_page, name="tokens"),
]
