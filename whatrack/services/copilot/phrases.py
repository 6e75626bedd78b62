"""Portuguese phrase families the built-in detector recognises, as pure functions.

Text is folded first (lowercase, accents removed) so "não", "nao" and "NÃO" are one word.
A trigger counts only in a clause that is not a question, not negated right before it, not
future or conditional; a message that talks about a refund or a failed payment holds no sale.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Clause:
    text: str
    start: int
    question: bool


# Split on sentence marks and on commas that are not inside a number ("1.234,56").
_SPLIT = re.compile(r"[!?;\n]+|\.(?!\d)|,(?!\d)|\s+(?:mas|porem)\s+")


def clauses(text: str) -> list[Clause]:
    out: list[Clause] = []
    pos = 0
    for match in _SPLIT.finditer(text):
        piece = text[pos:match.start()]
        if piece.strip():
            out.append(Clause(piece, pos, "?" in match.group()))
        pos = match.end()
    if text[pos:].strip():
        out.append(Clause(text[pos:], pos, False))
    return out


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# The customer says the money went out.
PAYMENT_DONE = _any(
    r"\b(?:ja\s+)?paguei\b",
    r"\b(?:ta|esta|tudo|ja\s+esta|ja\s+ta)\s+pago\b",
    r"\bfiz\s+(?:o|um|a)?\s*(?:pix|pagamento|deposito|transferencia|ted|doc)\b",
    r"\b(?:pix|pagamento|deposito|transferencia|ted)\s+(?:ja\s+)?(?:feito|realizado|efetuado|"
    r"enviado|concluido|caiu)\b",
    r"\b(?:transferi|depositei|quitei)\b",
    r"\b(?:mandei|enviei|mandei\s+ai|fiz\s+e\s+mandei)\s+(?:o|um|a)?\s*(?:pix|transferencia)\b",
    r"\b(?:segue|seguem|mandei|enviei|anexei|ta\s+ai|esta\s+ai|aqui\s+(?:esta|ta))\s+"
    r"(?:o|os|meu|o\s+meu)?\s*comprovantes?\b",
    r"\bcomprovantes?\s+(?:do\s+pix|de\s+pagamento|da\s+transferencia|em\s+anexo|anexo|segue)\b",
    r"\bpassei\s+(?:no|o)\s+cartao\b",
    r"\bacabei\s+de\s+(?:pagar|transferir|fazer\s+o\s+pix|passar\s+o\s+cartao)\b",
)

# The business acknowledges the money (or the closed order) arrived.
BUSINESS_CONFIRM = _any(
    r"\b(?:pagamento|pix|deposito|transferencia|sinal|entrada|valor)\s+(?:(?:de\s+)?r\$\s*[\d.,]+\s+)?"
    r"(?:foi\s+)?(?:recebido|confirmado|aprovado|identificado|compensado|creditado)\b",
    r"\b(?:recebemos|confirmamos)\s+(?:o|a|seu|sua|o\s+seu)?\s*(?:pagamento|pix|transferencia|deposito|"
    r"comprovante|sinal)\b",
    r"\b(?:recebi|confirmei|confirmo)\s+(?:o|a|seu|sua)?\s*(?:pagamento|pix|transferencia|"
    r"deposito|sinal)\b",
    r"\b(?:compra|pedido|matricula|contratacao|reserva|pacote)\s+(?:esta\s+|foi\s+)?"
    r"(?:confirmad[ao]|finalizad[ao]|efetivad[ao])\b",
    r"\bcaiu\s+aqui\b",
)

# The customer accepts a price the business gave; only counts after a quote.
AGREEMENT = re.compile(
    r"^\s*(?:(?:ok|okay|certo|beleza|blz|sim|perfeito|otimo|show|entao|ta\s+bom|tudo\s+bem|"
    r"opa|bom|maravilha|pode\s+sim|isso)\s*(?:entao)?\s*)?"
    r"(?:fechado|fechou|fechamos|combinado|negocio\s+fechado|"
    r"pode\s+(?:agendar|marcar|reservar|fechar|confirmar)|quero\s+fechar|vamos\s+fechar|"
    r"aceito|vou\s+fechar\s+(?:sim|com\s+voces)|quero\s+contratar|pode\s+mandar\s+o\s+pix)\b")

DEPOSIT = re.compile(r"\b(?:sinal|entrada|adiantamento)\b")
REMAINDER = re.compile(r"\b(?:restante|resto|saldo|segunda\s+parcela|outra\s+metade|"
                       r"ultima\s+parcela)\b")
CANCEL = re.compile(r"\b(?:cancel\w*|estorn\w*|reembols\w*|devolu\w*|desist\w*|chargeback|"
                    r"devolver\s+(?:o\s+)?(?:meu\s+)?dinheiro|dinheiro\s+de\s+volta)\b")
CONDITIONAL = re.compile(r"^\s*(?:e\s+)?(?:se|caso|em\s+caso)\b|\bpolitica\b|\bprazo\s+para\b")
PAYMENT_FAILED = re.compile(
    r"\b(?:deu\s+erro|nao\s+(?:foi|passou|caiu|compensou|entrou|completou)|voltou|recusad[ao]|"
    r"estourou\s+o\s+limite|sem\s+limite|nao\s+aprovou|bloquead[ao]|falhou)\b")
FREE = re.compile(r"\b(?:gratis|gratuit[ao]|sem\s+custo|cortesia|nao\s+(?:tem|cobra)\s+custo)\b")
# A payment told as history ("da última vez eu paguei R$ 200") is not today's sale.
HISTORY = re.compile(r"\b(?:ultima|outra)\s+vez\b|\bano\s+passado\b|\bantigamente\b")
NEGATION = re.compile(r"\b(?:nao|nem|nunca|ninguem|jamais)\b")
FUTURE = re.compile(
    r"\b(?:vou|vamos|irei|iremos|vai|pretendo|quero)\s+(?:\w+\s+)?(?:pagar|fazer|transferir|"
    r"mandar|enviar|depositar|passar|acertar|quitar)\b"
    r"|\b(?:amanha|depois|mais\s+tarde|semana\s+que\s+vem|mes\s+que\s+vem|proxima\s+semana|"
    r"assim\s+que|quando\s+(?:eu|receber|cair|der))\b")


def negated(clause: str, trigger_start: int) -> bool:
    """A negation among the three words right before the trigger ("ainda não paguei")."""
    before = clause[:trigger_start].split()[-3:]
    return any(NEGATION.fullmatch(word) for word in before)


def find_trigger(pattern: re.Pattern[str], clause: Clause) -> re.Match[str] | None:
    """The trigger when the clause states it: not asked, not denied, not promised."""
    if clause.question:
        return None
    match = pattern.search(clause.text)
    if match is None or negated(clause.text, match.start()):
        return None
    if FUTURE.search(clause.text) or CONDITIONAL.search(clause.text) \
            or HISTORY.search(clause.text):
        return None
    return match


def mentions_cancellation(text: str, outbound: bool) -> bool:
    """A stated or requested cancellation/refund; policy talk ("em caso de...") is not one."""
    for clause in clauses(text):
        if CANCEL.search(clause.text) and not CONDITIONAL.search(clause.text):
            if outbound and not re.search(r"\b(?:cancelad[ao]|estornad[ao]|reembolsad[ao]|"
                                          r"estorno|reembolso|devolvid[ao])\b", clause.text):
                continue
            return True
    return False


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{5,}", text)}
