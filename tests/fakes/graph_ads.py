"""The Marketing API side of the fake Graph API: ads by id and ad-account Insights.

Tests register ads (with their ad set and campaign) and daily spend rows; the fake answers
``GET /{ad id}?fields=...`` and ``GET /act_X/insights?level=ad&time_increment=1&time_range=``
like Meta: a deleted or unknown ad is ``100 / 33``, a token without ``ads_read`` is ``200``
(see ``refuse_without_ads_read``), an expired token is ``190`` (graph.py checks tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from tests.fakes.graph import FakeGraph


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


@dataclass
class FakeAds:
    # ad id -> {"name", "adset": {"id", "name"}, "campaign": {"id", "name"}, "thumbnail_url"}
    ads: dict[str, dict[str, Any]] = field(default_factory=dict)
    # ad account id ("act_...") -> currency
    accounts: dict[str, str] = field(default_factory=dict)
    # (account id, ad id, "YYYY-MM-DD") -> spend string
    spend: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # When True every ads call answers Meta's permission error (token lacks ads_read).
    refuse_without_ads_read: bool = False
    insight_requests: list[dict[str, str]] = field(default_factory=list)

    def add_ad(self, ad_id: str, name: str, adset: tuple[str, str], campaign: tuple[str, str],
               thumbnail_url: str | None = None) -> None:
        self.ads[ad_id] = {"name": name, "adset": {"id": adset[0], "name": adset[1]},
                           "campaign": {"id": campaign[0], "name": campaign[1]},
                           "thumbnail_url": thumbnail_url}

    def add_spend(self, account_id: str, ad_id: str, day: str, amount: str,
                  currency: str = "BRL") -> None:
        self.accounts.setdefault(account_id, currency)
        self.spend[(account_id, ad_id, day)] = amount

    def route(self, graph: FakeGraph, request: Request, path: str) -> Response | None:
        if request.method != "GET":
            return None
        is_insights = path.endswith("/insights")
        if path not in self.ads and not is_insights and not (
                path == "me/adaccounts" and self.accounts):
            return None
        if self.refuse_without_ads_read:
            from tests.fakes.graph import meta_error

            return _json(meta_error("(#200) Requires ads_read permission to manage the object",
                                    200, error_type="OAuthException"), 403)
        if path == "me/adaccounts":
            return _json({"data": [{"id": act, "currency": cur}
                                   for act, cur in self.accounts.items()],
                          "paging": {"cursors": {}}})
        if is_insights:
            return self._insights(request, path.removesuffix("/insights"))
        ad = self.ads[path]
        return _json({"id": path, "name": ad["name"], "adset": ad["adset"],
                      "campaign": ad["campaign"],
                      **({"creative": {"id": "cr" + path,
                                       "thumbnail_url": ad["thumbnail_url"]}}
                         if ad.get("thumbnail_url") else {})})

    def _insights(self, request: Request, account_id: str) -> Response:
        args = request.args.to_dict()
        self.insight_requests.append({"account": account_id, **args})
        if account_id not in self.accounts:
            from tests.fakes.graph import meta_error

            return _json(meta_error(f"Unsupported get request. Object with ID '{account_id}' "
                                    "does not exist", 100, 33, "GraphMethodException"), 400)
        span = json.loads(args.get("time_range") or "{}")
        since, until = date.fromisoformat(span["since"]), date.fromisoformat(span["until"])
        rows = []
        for (act, ad_id, day), amount in sorted(self.spend.items()):
            if act != account_id or not since <= date.fromisoformat(day) <= until:
                continue
            ad = self.ads.get(ad_id, {})
            rows.append({"ad_id": ad_id, "ad_name": ad.get("name"),
                         "adset_id": (ad.get("adset") or {}).get("id"),
                         "adset_name": (ad.get("adset") or {}).get("name"),
                         "campaign_id": (ad.get("campaign") or {}).get("id"),
                         "campaign_name": (ad.get("campaign") or {}).get("name"),
                         "spend": amount, "account_currency": self.accounts[act],
                         "date_start": day, "date_stop": day})
        return _json({"data": rows, "paging": {"cursors": {}}})
