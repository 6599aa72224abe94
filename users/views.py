"""Sign-in, the users pages (administrators only) and everyone's own password and two-factor
pages. Thin shells over users.services."""

from __future__ import annotations

import base64

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from backupweb.access import administrator_required, any_role_required, role_of
from users import lockouts, services
from users.forms import LoginForm, NewUserForm, TokenForm, UserForm

User = get_user_model()


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm

    def form_valid(self, form: LoginForm) -> HttpResponse:
        response = super().form_valid(form)
        if form.otp_device is not None:
            otp_login(self.request, form.otp_device)  # this session passed two-factor
        return response


# -- users (administrators) -------------------------------------------------------------------


@administrator_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = list(User.objects.order_by("username").prefetch_related("profile__accounts"))
    with_2fa = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    for user in users:
        user.role = role_of(user) if user.is_active else "disabled"
        user.has_2fa = user.pk in with_2fa
    ctx = {"nav": "users", "users": users, "lockouts": lockouts.locked_out()}
    return render(request, "users/list.html", ctx)


@administrator_required
@require_POST
def lockout_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    username = lockouts.unlock(request, pk)
    messages.success(request, f"Sign-in for {username or 'that address'} unlocked.")
    return redirect("users:list")


@administrator_required
def user_create(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        user.set_password(form.cleaned_data["password1"])
        role, accounts = form.cleaned_data["role"], form.cleaned_data["accounts"]
        services.save_user(request, user, role, accounts, created=True, changed=[])
        messages.success(request, f"User {user.username} created.")
        return redirect("users:list")
    return render(request, "users/form.html", {"nav": "users", "form": form, "target": None})


@administrator_required
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    profile = services.profile_of(target)
    form = UserForm(
        request.POST or None,
        instance=target,
        role=role_of(target) or profile.role,
        accounts=profile.accounts.values_list("pk", flat=True),
        editing_self=target.pk == request.user.pk,
    )
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        changed = [f for f in form.changed_data if f not in ("role", "accounts")]
        role, accounts = form.cleaned_data["role"], form.cleaned_data["accounts"]
        services.save_user(request, user, role, accounts, created=False, changed=changed)
        messages.success(request, f"User {user.username} saved.")
        return redirect("users:list")
    context = {"nav": "users", "form": form, "target": target}
    return render(request, "users/form.html", context)


@administrator_required
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    form = SetPasswordForm(target, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.set_password(request, target, form.cleaned_data["new_password1"])
        if target.pk == request.user.pk:
            update_session_auth_hash(request, target)
        messages.success(request, f"Password of {target.username} changed; their sessions ended.")
        return redirect("users:list")
    context = {"nav": "users", "form": form, "target": target}
    return render(request, "users/password.html", context)


@administrator_required
@require_POST
def user_reset_two_factor(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    services.reset_two_factor(request, target)
    messages.success(request, f"Two-factor sign-in of {target.username} turned off.")
    return redirect("users:list")


@administrator_required
@require_POST
def user_delete(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    if target.pk == request.user.pk:
        messages.error(request, "You cannot delete yourself.")
        return redirect("users:list")
    name = target.username
    services.delete_user(request, target)
    messages.success(request, f"User {name} deleted.")
    return redirect("users:list")


# -- one's own password and two-factor sign-in ------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing one's password keeps this session and ends every other one."""

    form_class = PasswordChangeForm
    template_name = "users/my_password.html"
    success_url = reverse_lazy("dashboard")
    extra_context = {"nav": "me"}

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(self.request, "user.change_own_password", self.request.user)
        messages.success(self.request, "Password changed; your other sessions were signed out.")
        return response


my_password = any_role_required(PasswordChangeView.as_view())


@any_role_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Set up TOTP (scan, confirm with a code) or turn it off (with a code)."""
    user = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if confirmed is not None:
        return _two_factor_on(request, confirmed)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        otp_login(request, device)
        audit.record(request, "user.enable_2fa", user)
        messages.success(request, "Two-factor sign-in is on.")
        return redirect("users:two-factor")
    context = {
        "nav": "me",
        "form": form,
        "enabled": False,
        "qr": _qr_data_uri(device.config_url),
        "secret": base64.b32encode(device.bin_key).decode(),
    }
    return render(request, "users/two_factor.html", context)


def _two_factor_on(request: HttpRequest, device: TOTPDevice) -> HttpResponse:
    form = TokenForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        TOTPDevice.objects.filter(user=request.user).delete()
        audit.record(request, "user.disable_2fa", request.user)
        messages.success(request, "Two-factor sign-in is off.")
        return redirect("users:two-factor")
    return render(request, "users/two_factor.html", {"nav": "me", "form": form, "enabled": True})


def _qr_data_uri(url: str) -> str:
    """The otpauth URL as an SVG QR code in a data: URI (allowed by the page CSP's img-src)."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()
