"""Admin: browse and delete the MongoDB message history (no relational table behind it)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from pymongo.errors import PyMongoError

from chat.infra import syncbridge
from chat.messages import store
from chat.models import Message
from chat.protocol import MessageOut
from chat.web.storeadmin import StoreListAdmin

log = logging.getLogger(__name__)

PER_PAGE = 50
STORE_TIMEOUT_S = 30.0
ROOM_VAR, SEARCH_VAR, PAGE_VAR = "room", "q", "p"
DELETE_ACTION = "delete_selected"
SELECTED_VAR = "_selected_action"


@dataclass(frozen=True)
class _Listing:
    total: int
    rooms: list[str]


async def _listing(*, room: str | None, text: str | None) -> _Listing:
    total, rooms = await asyncio.gather(
        store.count_messages(room=room, text=text), store.room_names()
    )
    return _Listing(total=total, rooms=rooms)


def _query(params: QueryDict, **changes: str | int | None) -> str:
    """The current query string with some parameters changed (None drops one)."""
    query = params.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return "?" + query.urlencode() if query else "?"


@admin.register(Message)
class MessageAdmin(StoreListAdmin):
    """The Messages page: filter by room, search text, newest first, delete selected."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """List messages from the store; a POST runs the delete action."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._delete_selected(request)
        request.current_app = self.admin_site.name
        room = request.GET.get(ROOM_VAR, "").strip() or None
        text = request.GET.get(SEARCH_VAR, "").strip() or None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Messages",
            "room": room,
            "q": text or "",
            "room_var": ROOM_VAR,
            "search_var": SEARCH_VAR,
            "delete_action": DELETE_ACTION,
            "selected_var": SELECTED_VAR,
            "can_delete": self.has_delete_permission(request),
            **(extra_context or {}),
        }
        try:
            listing = syncbridge.run(_listing(room=room, text=text), timeout=STORE_TIMEOUT_S)
            page = Paginator(range(listing.total), PER_PAGE).get_page(request.GET.get(PAGE_VAR))
            rows = syncbridge.run(
                store.find_messages(
                    room=room, text=text, skip=(page.number - 1) * PER_PAGE, limit=PER_PAGE
                ),
                timeout=STORE_TIMEOUT_S,
            )
        except (PyMongoError, TimeoutError) as exc:
            log.warning("admin could not read the message store: %s", exc)
            context["store_error"] = "The message store is not reachable; try again shortly."
            return TemplateResponse(request, "admin/chat/messages.html", context, status=503)
        context.update(
            self._page_context(request, room=room, listing=listing, page=page, rows=rows)
        )
        return TemplateResponse(request, "admin/chat/messages.html", context)

    def _page_context(
        self,
        request: HttpRequest,
        *,
        room: str | None,
        listing: _Listing,
        page: Page,
        rows: list[MessageOut],
    ) -> dict[str, Any]:
        params = request.GET
        paginator = page.paginator
        return {
            "messages_page": rows,
            "total": listing.total,
            "page": page,
            "page_links": [
                (n, _query(params, **{PAGE_VAR: n}) if isinstance(n, int) else None)
                for n in paginator.get_elided_page_range(page.number, on_each_side=3, on_ends=2)
            ]
            if paginator.num_pages > 1
            else [],
            "room_links": [
                (name, _query(params, **{ROOM_VAR: name, PAGE_VAR: None}))
                for name in sorted({*listing.rooms, *([room] if room else [])})
            ],
            "all_rooms_link": _query(params, **{ROOM_VAR: None, PAGE_VAR: None}),
            "clear_search_link": _query(params, **{SEARCH_VAR: None, PAGE_VAR: None}),
        }

    def _delete_selected(self, request: HttpRequest) -> HttpResponse:
        back = HttpResponseRedirect(request.get_full_path())
        if request.POST.get("action") != DELETE_ACTION:
            self.message_user(request, "No action selected.", messages.WARNING)
            return back
        if not self.has_delete_permission(request):
            raise PermissionDenied
        ids = request.POST.getlist(SELECTED_VAR)
        if not ids:
            self.message_user(
                request, "Select messages to delete; nothing was deleted.", messages.WARNING
            )
            return back
        try:
            deleted = syncbridge.run(store.delete_messages(ids=ids), timeout=STORE_TIMEOUT_S)
        except (PyMongoError, TimeoutError) as exc:
            log.warning("admin could not delete messages: %s", exc)
            self.message_user(request, "The message store is not reachable.", messages.ERROR)
            return back
        log.info("admin user %s deleted %d messages", request.user, deleted)
        noun = "message" if deleted == 1 else "messages"
        self.message_user(request, f"Deleted {deleted} {noun}.", messages.SUCCESS)
        return back


# The Jobs page lives with the jobs; importing it registers it with the admin site.
from chat.jobs import admin as jobs_admin  # noqa: E402, F401
