"""HTTP routes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path

from chat import health, views
from chat.api import api

urlpatterns = [
    path("", views.room, name="home"),
    re_path(r"^r/(?P<room>[^/]+)/$", views.room, name="room"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
