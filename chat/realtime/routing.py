"""The consumer's URL routes: WebSockets, and event streams (GET, Server-Sent Events)."""

from __future__ import annotations

from django.urls import re_path

from chat.realtime.consumers import ChatConsumer

websocket_urlpatterns = [
    re_path(r"^ws/rooms/(?P<room>[^/]+)/$", ChatConsumer.as_asgi()),
]
stream_urlpatterns = [
    re_path(r"^api/rooms/(?P<room>[^/]+)/stream$", ChatConsumer.as_asgi()),
]
