"""Sign-up, log-in and log-out pages (Django's auth, in the chat's look)."""

from __future__ import annotations

from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from chat.identity import loginthrottle
from chat.identity.accounts import name_looks_registered
from chat.protocol import MAX_NAME, ProtocolError, validate_name

LOOKALIKE_TAKEN = "A user with a name that looks the same already exists; pick another."


class SignupForm(UserCreationForm):
    """A new account; its username is the chat name it owns from now on."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.max_length = MAX_NAME
        username.widget.attrs.update({"maxlength": MAX_NAME, "autocomplete": "username"})
        username.help_text = (
            f"Up to {MAX_NAME} letters, digits and @ . + - _. Others can no longer chat under it."
        )
        # Django's own help is an HTML list; one plain line says the same here.
        self.fields[
            "password1"
        ].help_text = "At least 8 characters; not only digits, not a common password."

    def clean_username(self) -> str:
        # Django already refuses a username taken in another letter case; this also refuses
        # look-alikes (other scripts, fullwidth forms, I for l), as guests' names are.
        username = super().clean_username()
        try:
            username = validate_name(username)
        except ProtocolError as exc:
            raise ValidationError(exc.message[:1].upper() + exc.message[1:] + ".") from None
        if name_looks_registered(name=username):
            raise ValidationError(LOOKALIKE_TAKEN, code="lookalike")
        return username


class LoginForm(AuthenticationForm):
    """Django's log-in form; says so when the attempt was refused for too many failures."""

    def clean(self) -> dict[str, object]:
        try:
            return super().clean()
        except ValidationError:
            username = self.cleaned_data.get("username")
            if loginthrottle.was_refused(self.request) or (
                self.request is not None
                and isinstance(username, str)
                and loginthrottle.is_refused(
                    username=username, address=loginthrottle.client_address(self.request)
                )
            ):
                raise ValidationError(loginthrottle.THROTTLED, code="throttled") from None
            raise


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing up: the page the user came from, if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in with it."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Named: the log-in throttle is a backend too (chat/identity/loginthrottle.py).
        auth.login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_next_url(request))
    return render(request, "accounts/signup.html", {"form": form, "next": _next_url(request)})


class LoginView(auth_views.LoginView):
    """Log in; back to the page the user came from."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Log out (POST only, with the CSRF token) and go back to the chat."""
