from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField, StringField
from wtforms.validators import Email, Length, Optional

# SelectChoice, not tuples: WTForms 3.3 deprecates tuple choices and 3.4 removes them.
ROLE_CHOICES = [SelectChoice("agent", _l("Agent")), SelectChoice("admin", _l("Admin")),
                SelectChoice("owner", _l("Owner"))]
ROLE_LABELS = {choice.value: choice.label for choice in ROLE_CHOICES}


class InviteForm(FlaskForm):
    email = EmailField(
        _l("Email (optional, for your reference)"),
        validators=[Optional(), Email(message=_l("Enter a valid email address."),
                                      check_deliverability=False), Length(max=254)],
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="agent")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


API_KEY_ACCESS_CHOICES = [SelectChoice("read_write", _l("Read and write")),
                          SelectChoice("read_only", _l("Read only (GET requests)"))]


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Key name"), validators=[Optional(), Length(max=80)])
    access = SelectField(_l("Access"), choices=API_KEY_ACCESS_CHOICES, default="read_write")


class EmptyForm(FlaskForm):
    """CSRF-only form for buttons (remove, revoke)."""
