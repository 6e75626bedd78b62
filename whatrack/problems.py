"""What went wrong, said twice: a plain pt-BR sentence for the clinic, and the technical
detail (Meta's code and subcode, fbtrace_id, the exception class) that support needs, which
the page folds away under "detalhes técnicos"."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from whatrack.integrations.meta.errors import (
    MetaError,
    MetaRateLimited,
    MetaTemporaryError,
    MetaTokenError,
)


@dataclass(frozen=True)
class Problem:
    text: str
    details: list[tuple[str, str]]

    def as_flash(self) -> dict[str, object]:
        """The shape ``ui.render_flashes`` shows as a sentence plus folded details."""
        return {"text": self.text, "details": [list(pair) for pair in self.details]}


def meta_problem(exc: MetaError) -> Problem:
    """``exc`` from the Graph API as a person reads it; Meta's own words go to the details."""
    info = exc.info
    if isinstance(exc, MetaTokenError):
        text = _("Meta no longer accepts the connection with Facebook: reconnect Facebook.")
    elif isinstance(exc, MetaRateLimited):
        text = _("Meta asked us to slow down. Try again in a few minutes.")
    elif isinstance(exc, MetaTemporaryError):
        text = _("Meta could not be reached right now. Try again in a few minutes.")
    else:
        text = info.user_msg or _("Meta refused the request.")
    details = [(_("error"), type(exc).__name__), (_("message"), info.message or str(exc)),
               (_("code"), info.code), (_("subcode"), info.subcode),
               ("HTTP", info.http_status), ("fbtrace_id", info.fbtrace_id)]
    return Problem(text, [(label, str(value)) for label, value in details if value])


def exception_problem(text: str, exc: BaseException) -> Problem:
    """A plain ``text`` for a failure whose only detail is the exception's class."""
    return Problem(text, [(_("error"), type(exc).__name__)])
