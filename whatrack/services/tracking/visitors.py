"""Who is visiting a link: link-preview bots, and a salted hash of the address."""

from __future__ import annotations

import hashlib
import hmac
import re

# Link previews (WhatsApp, Facebook, Instagram, Telegram...) and crawlers fetch the URL
# when it is posted; none of them is a person who might write.
_BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawler|spider|slurp|facebookexternalhit|facebookcatalog|facebot|"
    r"whatsapp/|telegram|slack|discord|skypeuripreview|linkedin|pinterest|embedly|"
    r"quora link preview|vkshare|w3c_validator|redditbot|applebot|yandex|baidu|bingpreview|"
    r"headlesschrome|lighthouse|preview|python-requests|curl/|wget/|go-http-client|okhttp|"
    r"axios/|node-fetch|httpclient|scrapy|ahrefs|semrush|mj12|petalbot|bytespider|gptbot",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    """True for previews and crawlers; a missing user agent is no browser either."""
    if not user_agent or not user_agent.strip():
        return True
    return bool(_BOT_PATTERN.search(user_agent))


def ip_hash(address: str | None, secret: str) -> str | None:
    """HMAC-SHA256 of the address: stable for rate limiting, not reversible to the IP."""
    if not address:
        return None
    key = hashlib.sha256(f"tracking-ip:{secret}".encode()).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()
