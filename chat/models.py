"""Relational chat data: name keys for look-alike checks; messages live in MongoDB
(chat.messages.store)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Message(models.Model):
    """Stand-in so the admin lists "Messages" under Chat and has view/delete permissions.

    There is no table: the admin page reads and deletes through chat.messages.store.
    """

    id = models.CharField(primary_key=True, max_length=24)

    class Meta:
        managed = False
        default_permissions = ("view", "delete")
        verbose_name = "message"
        verbose_name_plural = "messages"

    def __str__(self) -> str:
        return self.id


class Job(models.Model):
    """Stand-in so the admin lists "Jobs" under Chat, with a view permission for the page.

    There is no table: the page reads job records and the queue through chat.jobs.
    """

    id = models.CharField(primary_key=True, max_length=32)

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "job"
        verbose_name_plural = "jobs"

    def __str__(self) -> str:
        return self.id


class NameKey(models.Model):
    """A user's name skeleton (chat.names.name_key), so look-alike names are found by index.

    Kept current by a post_save signal on the user model (chat/apps.py).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="name_key"
    )
    key = models.CharField(max_length=64, db_index=True)

    class Meta:
        verbose_name = "name key"
        verbose_name_plural = "name keys"

    def __str__(self) -> str:
        return self.key


class ApiToken(models.Model):
    """A personal API token (chat.identity.tokens): only its SHA-256 is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=64)
    # Space-separated, from chat.identity.tokens.SCOPES.
    scopes = models.CharField(max_length=200)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
