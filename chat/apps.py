from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save


def _user_saved(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """Keep the user's name key current, whoever saved the user (signup, admin, commands)."""
    from chat.identity.accounts import sync_name_key

    # Fixtures load rows as they are (their name keys with them); a log-in saves only
    # last_login, and the name did not change.
    if raw or (update_fields is not None and instance.USERNAME_FIELD not in update_fields):
        return
    sync_name_key(user=instance)


class ChatConfig(AppConfig):
    """The chat application: rooms, messages, the WebSocket protocol."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The admin's registrations live with the other web code, not in chat/web/admin.py
        # where Django's autodiscovery would look.
        import_module("chat.web.admin")
        from chat.identity import loginthrottle

        post_save.connect(
            _user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="chat.name_key"
        )
        user_login_failed.connect(loginthrottle.on_login_failed, dispatch_uid="chat.login_failed")
        user_logged_in.connect(loginthrottle.on_logged_in, dispatch_uid="chat.logged_in")
