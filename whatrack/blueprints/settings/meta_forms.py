"""Forms of the Meta (Facebook / Conversions API) settings page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp

from whatrack.services.meta.connection import LEAD_EVENT_CHOICES

NONE_CHOICE = SelectChoice("", "—")


def event_choices() -> list[SelectChoice]:
    return [SelectChoice(name, "Lead (LeadSubmitted)" if name == "LeadSubmitted" else name)
            for name in LEAD_EVENT_CHOICES]


class CapiSettingsForm(FlaskForm):
    """Lead switch, lead event name and test code; one select per stage is added at runtime."""

    lead_event_enabled = BooleanField(_l("Send the lead event when an ad click opens a ticket"))
    lead_event_name = SelectField(_l("Lead event name"), choices=event_choices,
                                  default="LeadSubmitted",
                                  description=_l("Meta only accepts business-messaging names "
                                                 "for WhatsApp (plain \"Lead\" is refused)."))
    test_event_code = StringField(
        _l("Test event code (optional)"),
        validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_-]+$")],
        description=_l("From Events Manager > Test events. Leave empty in production."))


def stage_field_name(stage_id: int) -> str:
    return f"stage_{stage_id}"


def with_stage_fields(stages: list) -> type[CapiSettingsForm]:
    """A form class with one "event when a ticket reaches this stage" select per open stage."""

    class _Form(CapiSettingsForm):
        pass

    for stage in stages:
        setattr(_Form, stage_field_name(stage.id), SelectField(
            stage.name, choices=[NONE_CHOICE, *event_choices()], default=""))
    return _Form


class DatasetForm(FlaskForm):
    """One dataset picked from the list (hidden fields) or typed by hand."""

    dataset_id = StringField(_l("Dataset ID"), validators=[
        DataRequired(), Regexp(r"^\d{1,32}$", message=_l("The dataset id is a number."))])
    dataset_name = HiddenField(validators=[Optional(), Length(max=200)])
    source = HiddenField(default="manual", validators=[AnyOf(("waba", "ad_account", "manual"))])
