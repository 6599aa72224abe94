"""Forms for signing in (with an optional TOTP code), managing users, two-factor setup and API
tokens."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account
from users.models import ApiToken
from users.roles import ROLE_HELP, Role


class LoginForm(AuthenticationForm):
    """Username and password, plus the authenticator code for users who turned it on.

    A wrong or missing code counts as a failed sign-in (for django-axes and the audit log) and
    gets the same message as a wrong password."""

    otp_token = forms.CharField(
        label="Authentication code",
        required=False,
        max_length=12,
        help_text="Only if you turned on two-factor sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password didn't match (or the authentication "
        "code was wrong). Please try again.",
    }

    otp_device: TOTPDevice | None = None

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
        if not devices:
            return cleaned
        token = (self.cleaned_data.get("otp_token") or "").replace(" ", "")
        self.otp_device = next((d for d in devices if token and d.verify_token(token)), None)
        if self.otp_device is None:
            credentials = {"username": user.get_username()}
            user_login_failed.send(
                sender=__name__, credentials=credentials, request=self.request, reason="otp"
            )
            self.user_cache = None
            raise self.get_invalid_login_error()
        return cleaned


class UserForm(forms.ModelForm):
    role = forms.ChoiceField(choices=Role.choices, widget=forms.RadioSelect)
    accounts = forms.ModelMultipleChoiceField(
        queryset=Account.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Accounts a viewer may browse",
        help_text="Administrators and operators see every account.",
    )

    class Meta:
        model = get_user_model()
        fields = ["username", "email", "first_name", "last_name", "is_active"]

    def __init__(self, *args, role: str = Role.VIEWER, accounts=(), editing_self=False, **kw):
        super().__init__(*args, **kw)
        self.fields["role"].initial = role
        self.fields["accounts"].initial = list(accounts)
        self.role_help = ROLE_HELP
        if editing_self:  # nobody locks themselves out by demoting or disabling themselves
            self.fields["role"].disabled = True
            self.fields["is_active"].disabled = True


class NewUserForm(UserForm):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            user = self.instance
            user.username = cleaned.get("username", "")
            user.email = cleaned.get("email", "")
            try:
                password_validation.validate_password(p1, user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, device: TOTPDevice | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].replace(" ", "")
        if self.device is None or not self.device.verify_token(token):
            raise forms.ValidationError("That code is not right (or has expired); try again.")
        return token


class NewTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="e.g. 'nightly script'")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        help_text="Read: look only. Operate: also change accounts and jobs, start and cancel "
        "runs. Admin: also users, grants and the audit log. Never more than your own role.",
    )
    expires = forms.IntegerField(
        label="Expires after (days)", min_value=1, max_value=3650, required=False, initial=90
    )
