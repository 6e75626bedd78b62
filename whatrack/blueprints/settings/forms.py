from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import Email, Length, Optional

ROLE_CHOICES = [("agent", _l("Agent")), ("admin", _l("Admin")), ("owner", _l("Owner"))]


class InviteForm(FlaskForm):
    email = EmailField(
        _l("Email (optional, for your reference)"),
        validators=[Optional(), Email(message=_l("Enter a valid email address."),
                                      check_deliverability=False), Length(max=254)],
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="agent")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Key name"), validators=[Optional(), Length(max=80)])


class EmptyForm(FlaskForm):
    """CSRF-only form for buttons (remove, revoke)."""
