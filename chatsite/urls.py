"""HTTP routes."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path

from chat import health, views

urlpatterns = [
    path("", views.room, name="home"),
    re_path(r"^r/(?P<room>[^/]+)/$", views.room, name="room"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
