"""No relational chat data: messages live in MongoDB (chat.store)."""

from __future__ import annotations

from django.db import models


class Message(models.Model):
    """Stand-in so the admin lists "Messages" under Chat and has view/delete permissions.

    There is no table: the admin page reads and deletes through chat.store.
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
