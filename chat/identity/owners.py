"""Who owns a job: the one place that decides it, for the socket and the REST API alike."""

from __future__ import annotations

from chat.identity import accounts


def owner_of(identity: accounts.Identity) -> str:
    """The owner of the jobs a connection or request starts: its account, else its guest name.

    A signed-in user's chat name is their username, and guests cannot take a registered
    name, so one owner is one person across their sockets and requests.
    """
    return identity.account or identity.name
