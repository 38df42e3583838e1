"""Who owns a job: the one place that decides it, for the socket and the REST API alike."""

from __future__ import annotations

from django.http import HttpRequest

from chat import accounts


def owner_of(identity: accounts.Identity) -> str:
    """The owner of the jobs a connection or request starts: its account, else its guest name.

    A signed-in user's chat name is their username, and guests cannot take a registered
    name, so one owner is one person across their sockets and requests.
    """
    return identity.account or identity.name


async def request_owner(request: HttpRequest, *, name: str) -> str:
    """The owner a REST request acts for: the signed-in user, else the name it gave.

    Raises ProtocolError `invalid_name` or `name_taken` for a guest's name.
    """
    user = await request.auser()
    return owner_of(await accounts.identity_for(user=user, requested_name=name))
