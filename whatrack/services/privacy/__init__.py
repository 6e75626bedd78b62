"""A contact's personal data on request (LGPD): export it all, or erase it.

``export.py`` gathers everything stored about one contact as JSON; ``erase.py`` deletes
what identifies the person and keeps, anonymised, what accounting needs (sales) and what
proves what was sent to Meta (conversion events, without their personal fields).
"""
