from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from whatrack.services.accounts.orgs import MIN_PASSWORD_LENGTH

_required = DataRequired(message=_l("This field is required."))


class SignupForm(FlaskForm):
    org_name = StringField(_l("Business name"), validators=[_required, Length(max=120)])
    name = StringField(_l("Your name"), validators=[_required, Length(max=120)])
    email = EmailField(
        _l("Email"),
        validators=[
            _required,
            Email(message=_l("Enter a valid email address."), check_deliverability=False),
            Length(max=254),
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            _required,
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[_required])
    password = PasswordField(_l("Password"), validators=[_required])
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[_required])
    new_password = PasswordField(
        _l("New password"),
        validators=[
            _required,
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[_required, EqualTo("new_password", message=_l("Passwords do not match."))],
    )


class AcceptInviteForm(FlaskForm):
    """New people pick a name and password; logged-in people just confirm."""

    name = StringField(_l("Your name"), validators=[Length(max=120)])
    email = EmailField(_l("Email"), validators=[Length(max=254)])
    password = PasswordField(_l("Password"), validators=[Length(max=200)])
