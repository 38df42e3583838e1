"""Admin pages over the stores (MongoDB, Redis) instead of relational tables."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path


class StoreListAdmin(admin.ModelAdmin):
    """An admin whose one page is its list, drawn from a store; rows are not edited here.

    The model only gives the page its place, name and permissions in the admin.
    """

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name=f"{info[0]}_{info[1]}_changelist")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
