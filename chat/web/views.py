"""The chat page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chat.identity import guests
from chat.protocol import MAX_NAME, MAX_TEXT, ProtocolError, validate_room

DEFAULT_ROOM = "lobby"


def home(request: HttpRequest) -> HttpResponse:
    """The start page: active rooms, and a form that opens a room by name (`?room=`)."""
    typed = request.GET.get("room")
    if typed is None:
        return render(request, "chat/home.html", {"typed": "", "error": None})
    try:
        return redirect("room", room=validate_room(typed))
    except ProtocolError as exc:
        return render(request, "chat/home.html", {"typed": typed, "error": exc.message})


def room(request: HttpRequest, room: str = DEFAULT_ROOM) -> HttpResponse:
    """Serve the page for a room; the page itself connects the WebSocket."""
    try:
        room = validate_room(room)
    except ProtocolError as exc:
        return render(request, "chat/bad_room.html", {"message": exc.message}, status=404)
    page = render(
        request, "chat/index.html", {"room": room, "max_name": MAX_NAME, "max_text": MAX_TEXT}
    )
    # Before the page's socket opens: what the guest schedules or starts is theirs by it.
    return guests.ensure_cookie(request, page)
