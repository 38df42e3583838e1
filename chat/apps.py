from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The chat application: rooms, messages, the WebSocket protocol."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"
