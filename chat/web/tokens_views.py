"""The signed-in user's API tokens page: create one (shown once), list, revoke."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from chat.identity import tokens

# The session key holding a new token's secret until the page after the redirect shows it.
_NEW = "chat_new_token"


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """GET lists the tokens (and, once, the secret of the one just made); POST creates one
    (name, scopes) or revokes one (`revoke`), then redirects, so a reload repeats nothing."""
    error = None
    if request.method == "POST":
        if "revoke" in request.POST:
            token_id = request.POST["revoke"]
            if token_id.isdigit():  # anything else names no token of anyone's
                tokens.revoke(request.user, int(token_id))
            return redirect("tokens")
        try:
            token, raw = tokens.create_token(
                request.user,
                name=request.POST.get("name", ""),
                scopes=request.POST.getlist("scopes"),
            )
        except ValueError as exc:
            error = str(exc)[:1].upper() + str(exc)[1:] + "."
        else:
            request.session[_NEW] = {"name": token.name, "scopes": token.scopes, "raw": raw}
            return redirect("tokens")
    created = request.session.pop(_NEW, None)
    context = {
        "tokens": tokens.tokens_of(request.user),
        "scopes": tokens.SCOPES,
        "created": created,
        "error": error,
    }
    response = render(request, "accounts/tokens.html", context)
    response["Cache-Control"] = "no-store"  # a new token's secret is on it
    return response
