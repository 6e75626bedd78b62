from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from whatrack.models.tracking import UTM_MAX
from whatrack.services.tracking.commands import MESSAGE_MAX, NAME_MAX


class LinkForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the link a name.")),
                                               Length(max=NAME_MAX)],
                       description=_l("For you only, e.g. “Instagram bio”."))
    account = SelectField(_l("WhatsApp number"), choices=[], validate_choice=True)
    message = TextAreaField(_l("Prefilled message"), validators=[Optional(),
                                                                  Length(max=MESSAGE_MAX)],
                            description=_l("What the customer's WhatsApp opens with; a short "
                                           "code is added at the end to recognise the click."))
    # Longer UTMs are cut by the service, never refused (issue 12).
    utm_source = StringField("utm_source", validators=[Optional()],
                             render_kw={"maxlength": UTM_MAX})
    utm_medium = StringField("utm_medium", validators=[Optional()])
    utm_campaign = StringField("utm_campaign", validators=[Optional()])
    utm_content = StringField("utm_content", validators=[Optional()])
    utm_term = StringField("utm_term", validators=[Optional()])
