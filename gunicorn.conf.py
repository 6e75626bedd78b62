"""Read by gunicorn from the working directory (``gunicorn wsgi:app`` in /app or the repo root).

Forwarding headers are trusted in ONE place, the app's ProxyFix, sized by TRUSTED_PROXIES.
gunicorn would otherwise honour X-Forwarded-Proto from any client on 127.0.0.1 by itself,
whatever TRUSTED_PROXIES says.
"""

forwarded_allow_ips = ""
