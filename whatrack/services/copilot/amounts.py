"""BRL amounts as people write them in chats: "R$ 350", "R$350", "350,00", "1.234,56",
"350 reais", "R$ 1,5 mil", "quinhentos reais", "3x de R$ 150".

Works on text already folded by `phrases.fold` (lowercase, no accents). A bare integer is an
amount only next to a price word ("o valor é 480", "pix de 200"); otherwise "14", "3" or a
date would become money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_VALUE = Decimal("10000000")

# 1.234,56 | 1234,56 | 1.234 | 350 | 350.00 | 1,5 (before "mil")
_NUMBER = r"\d+\.\d{2}(?![\d.])|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:,\d{1,2})?"
_MIL = r"(?:\s*(?P<mil>mil)\b)?"

_CURRENCY_FIRST = re.compile(rf"r\$\s*(?P<num>{_NUMBER}){_MIL}")
_REAIS_AFTER = re.compile(rf"(?<![\d.,])(?P<num>{_NUMBER}){_MIL}\s*(?:reais|real|conto)\b")
_CENTS = re.compile(r"(?<![\d.,/:])(?P<num>\d{1,3}(?:\.\d{3})*,\d{2})(?![\d%]|\s*(?:x|vezes)\b)")
_PRICE_WORD = (r"(?:valor|preco|custa|custo|fica|ficou|sai|saiu|total|investimento|"
               r"pix|sinal|entrada|paguei|transferi|depositei|cobrado|cobra|cobranca|orcamento|"
               r"boleto|fatura|parcela|faz|faco)")
_AFTER_PRICE_WORD = re.compile(
    rf"\b{_PRICE_WORD}\b(?:\s+(?:e|de|em|por|o|a|do|da|so|apenas|somente|fica|ficou|"
    rf"total|valor|sai))*\s+(?P<num>{_NUMBER}){_MIL}"
    r"(?!\s*(?:x|vezes|h|hs|horas|min|minutos|dias|meses|anos|sessoes|sessao|%|/|:|°|º|kg|ml)\b)"
    r"(?![\d/:%])")
_INSTALLMENTS = re.compile(
    rf"(?<!\d)(?P<n>\d{{1,2}})\s*(?:x|vezes)\s*(?:de\s*)?(?:r\$\s*)?(?P<num>{_NUMBER})")

_UNITS = {"um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5,
          "seis": 6, "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12,
          "treze": 13, "quatorze": 14, "catorze": 14, "quinze": 15, "dezesseis": 16,
          "dezessete": 17, "dezoito": 18, "dezenove": 19, "vinte": 20, "trinta": 30,
          "quarenta": 40, "cinquenta": 50, "sessenta": 60, "setenta": 70, "oitenta": 80,
          "noventa": 90, "cem": 100, "cento": 100, "duzentos": 200, "trezentos": 300,
          "quatrocentos": 400, "quinhentos": 500, "seiscentos": 600, "setecentos": 700,
          "oitocentos": 800, "novecentos": 900}
_WORD = "|".join(sorted(_UNITS, key=len, reverse=True))
_WORDS = re.compile(rf"\b(?P<words>(?:(?:{_WORD}|mil)(?:\s+e\s+|\s+))*(?:{_WORD}|mil))"
                    r"\s+(?:reais|real)\b")


@dataclass(frozen=True)
class Amount:
    value: Decimal
    start: int
    end: int
    installments: int | None = None  # "3x de 150": value is the total, 450


def parse_number(text: str, thousands: bool = False) -> Decimal | None:
    """A pt-BR written number as a Decimal ("1.234,56" -> 1234.56, "350.00" -> 350.00)."""
    if re.fullmatch(r"\d+\.\d{2}", text):
        raw = text
    else:
        raw = text.replace(".", "").replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if thousands:
        value *= 1000
    return value.quantize(Decimal("0.01"))


def _words_value(words: str) -> Decimal | None:
    total, current = 0, 0
    for word in words.split():
        if word == "e":
            continue
        if word == "mil":
            total += (current or 1) * 1000
            current = 0
        elif word in _UNITS:
            current += _UNITS[word]
        else:
            return None
    return Decimal(total + current).quantize(Decimal("0.01"))


def _plausible(value: Decimal | None) -> bool:
    return value is not None and Decimal("1") <= value <= MAX_VALUE


def find_amounts(text: str) -> list[Amount]:
    """Every amount in `text`, left to right, without overlaps."""
    found: list[Amount] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(amount: Amount) -> None:
        if _plausible(amount.value) and free(amount.start, amount.end):
            found.append(amount)
            taken.append((amount.start, amount.end))

    for match in _INSTALLMENTS.finditer(text):
        part = parse_number(match["num"])
        count = int(match["n"])
        if part is not None and 1 < count <= 24:
            add(Amount(part * count, match.start(), match.end(), installments=count))
    for pattern in (_CURRENCY_FIRST, _REAIS_AFTER):
        for match in pattern.finditer(text):
            add(Amount(parse_number(match["num"], bool(match["mil"])) or Decimal(0),
                       match.start(), match.end()))
    for match in _WORDS.finditer(text):
        add(Amount(_words_value(match["words"]) or Decimal(0), match.start(), match.end()))
    for match in _CENTS.finditer(text):
        add(Amount(parse_number(match["num"]) or Decimal(0), match.start("num"), match.end()))
    for match in _AFTER_PRICE_WORD.finditer(text):
        value = parse_number(match["num"], bool(match["mil"]))
        # A bare "de 3" or "por 2" is a count, not money.
        if value is not None and value >= 10:
            add(Amount(value, match.start("num"), match.end()))
    return sorted(found, key=lambda a: a.start)
