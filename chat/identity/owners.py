"""Who owns a job: the one place that decides it, for the socket and the REST API alike."""

from __future__ import annotations

from chat.identity import accounts


def owner_of(identity: accounts.Identity) -> str:
    """Who owns what a connection or request starts (jobs, scheduled messages): its account,
    else its guest key (chat.identity.guests), else its bare guest name.

    A signed-in user's chat name is their username, and guests cannot take a registered
    name, so one owner is one person across their sockets and requests; a guest key is one
    browser, whatever names it uses.
    """
    if identity.account:
        return identity.account
    if identity.guest_key:
        return f"guest:{identity.guest_key}"
    return identity.name
