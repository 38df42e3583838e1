"""What a consumer's scope keeps of the handshake, and how WebSocket and stream paths are routed."""

from __future__ import annotations

from chat.realtime.consumers import ChatConsumer
from chat.realtime.routing import stream_urlpatterns, websocket_urlpatterns
from chat.server.asgiapp import ChatApplication, consumer_scope

HANDSHAKE = {
    "type": "websocket",
    "asgi": {"version": "3.0"},
    "path": "/ws/rooms/lobby/",
    "raw_path": b"/ws/rooms/lobby/",
    "root_path": "",
    "query_string": b"name=ann",
    "headers": [(b"cookie", b"sessionid=secret"), (b"host", b"chat.example")],
    "client": ["10.0.0.1", 5000],
    "server": ["10.0.0.2", 4810],
    "subprotocols": [],
}


def test_a_consumer_scope_has_no_headers_but_its_route_and_user() -> None:
    user = object()
    scope = consumer_scope(HANDSHAKE, {"room": "lobby"}, user)
    assert "headers" not in scope and "raw_path" not in scope
    assert scope["url_route"] == {"args": (), "kwargs": {"room": "lobby"}}
    assert scope["user"] is user
    assert (scope["query_string"], scope["client"]) == (b"name=ann", ["10.0.0.1", 5000])


def test_room_paths_route_to_the_chat_consumer_with_the_room() -> None:
    route = ChatApplication.route(websocket_urlpatterns, "/ws/rooms/Lobby%20x/")
    assert route is not None
    make_consumer, kwargs = route
    assert isinstance(make_consumer(), ChatConsumer)
    assert kwargs == {"room": "Lobby%20x"}
    assert ChatApplication.route(websocket_urlpatterns, "/ws/rooms/a/b/") is None
    assert ChatApplication.route(websocket_urlpatterns, "/elsewhere/") is None


def test_stream_paths_route_to_the_same_consumer_and_only_streams() -> None:
    route = ChatApplication.route(stream_urlpatterns, "/api/rooms/lobby/stream")
    assert route is not None
    make_consumer, kwargs = route
    assert isinstance(make_consumer(), ChatConsumer)
    assert kwargs == {"room": "lobby"}
    assert ChatApplication.route(stream_urlpatterns, "/api/rooms/lobby/events") is None
    assert ChatApplication.route(stream_urlpatterns, "/ws/rooms/lobby/") is None
