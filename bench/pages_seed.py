"""Bulk data for bench/pages.py: one organization with N conversations, in SQL, in seconds.

Everything is generated inside PostgreSQL (INSERT ... SELECT over generate_series), so
100,000 tickets and 1,000,000 messages cost no Python per row. Values that have to agree
with each other (a ticket's last message, its preview, its 24-hour window) come from the
same arithmetic on ids rather than from random(), so they stay consistent without a second
pass over the messages.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = ("Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Heitor",
               "Isabela", "João", "Larissa", "Marcos", "Natália", "Otávio", "Paula", "Rafael",
               "Sofia", "Thiago", "Valéria", "Yasmin")
SURNAMES = ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Almeida",
            "Ferreira", "Rodrigues", "Gomes", "Martins", "Araújo", "Barbosa", "Ribeiro")
PHRASES = ("Olá, gostaria de agendar uma consulta", "Qual o valor da limpeza?",
           "Vocês atendem no sábado?", "Bom dia! Vi o anúncio no Instagram",
           "Pode ser às 15h?", "Obrigada, até amanhã", "Tem horário na quinta-feira?",
           "Aceitam convênio?", "Perfeito, confirmado", "Quanto tempo dura o clareamento?",
           "Estou com dor de dente, é urgente", "Podemos remarcar para a próxima semana?",
           "Claro! Temos horário às 10h e às 14h", "O valor é R$ 250,00 à vista",
           "Segue o endereço da clínica", "Enviei o comprovante")
AD_HEADLINES = ("Clareamento com 30% off", "Avaliação gratuita", "Implantes em até 12x",
                "Aparelho invisível", "Limpeza completa")


@dataclass(frozen=True)
class Org:
    id: int
    account_id: int
    stage_ids: list[int]  # Novo, Em atendimento, Agendado, Ganho, Perdido
    member_ids: list[int]  # the owner first
    phone_prefix: str  # contacts' numbers: prefix + 8 digits


def _array(values) -> str:
    # Literals inside a statement with %(name)s parameters: quotes doubled, % escaped.
    quoted = ("'" + v.replace("'", "''").replace("%", "%%") + "'" for v in values)
    return "ARRAY[" + ",".join(quoted) + "]"


def add_members(conn, org_id: int, count: int, tag: str) -> list[int]:
    """``count`` agents besides the owner (they never log in: any password hash will do)."""
    rows = conn.execute(
        "INSERT INTO users (email, name, password_hash, created_at) "
        "SELECT %s || i || '@example.com', 'Atendente ' || i, 'x', now() "
        "FROM generate_series(1, %s) i RETURNING id", (f"agent-{tag}-", count)).fetchall()
    ids = [r[0] for r in rows]
    for user_id in ids:
        conn.execute("INSERT INTO memberships (organization_id, user_id, role, created_at) "
                     "VALUES (%s, %s, 'agent', now())", (org_id, user_id))
    return ids


def load_org(conn, org_id: int, phone_prefix: str, extra_members: int, tag: str) -> Org:
    account = conn.execute("SELECT id FROM whatsapp_accounts WHERE organization_id = %s",
                           (org_id,)).fetchone()[0]
    stages = [r[0] for r in conn.execute(
        "SELECT id FROM stages WHERE organization_id = %s ORDER BY position, id", (org_id,))]
    owner = conn.execute("SELECT user_id FROM memberships WHERE organization_id = %s",
                         (org_id,)).fetchone()[0]
    members = [owner, *add_members(conn, org_id, extra_members, tag)]
    return Org(org_id, account, stages, members, phone_prefix)


def fill(conn, org: Org, tickets: int) -> dict[str, int]:
    """Contacts, tickets, messages, touches, links and ad names for one organization."""
    params = {"org": org.id, "acc": org.account_id, "n": tickets, "prefix": org.phone_prefix,
              "stages": org.stage_ids, "members": org.member_ids}
    conn.execute("SELECT setseed(0.42)")
    _links_and_ads(conn, org)
    conn.execute(f"""
        INSERT INTO contacts (organization_id, wa_id, wa_id_reported, profile_name,
                              saved_name, created_at)
        SELECT %(org)s, %(prefix)s || lpad(i::text, 8, '0'), %(prefix)s || lpad(i::text, 8, '0'),
               ({_array(FIRST_NAMES)})[1 + i %% {len(FIRST_NAMES)}] || ' '
               || ({_array(SURNAMES)})[1 + (i * 7) %% {len(SURNAMES)}],
               CASE WHEN i %% 10 = 0 THEN 'Paciente ' || i END,
               now() - interval '120 days'
        FROM generate_series(1, %(n)s) i""", params)
    _tickets(conn, params)
    _messages(conn, org)
    _touches(conn, org)
    return {table: conn.execute(f"SELECT count(*) FROM {table} WHERE organization_id = %s",
                                (org.id,)).fetchone()[0]
            for table in ("contacts", "tickets", "messages", "ticket_touches")}


def _links_and_ads(conn, org: Org) -> None:
    conn.execute(
        "INSERT INTO tracking_links (organization_id, whatsapp_account_id, code, name, message,"
        " utm_source, utm_medium, utm_campaign, created_at) "
        "SELECT %s, %s, 'B' || %s || '-' || i, 'Link ' || i, 'Olá! (ref B' || i || ')',"
        " 'google', 'cpc', 'campanha-' || i, now() FROM generate_series(1, 3) i",
        (org.id, org.account_id, org.id))
    conn.execute(
        "INSERT INTO meta_ads (organization_id, ad_id, name, campaign_id, campaign_name,"
        " fetched_at, created_at) SELECT %s, '1202' || i, 'Anúncio ' || i, '9000' || (i %% 4),"
        " 'Campanha ' || (i %% 4), now(), now() FROM generate_series(0, 19) i", (org.id,))


def _tickets(conn, params: dict) -> None:
    # Stages: 40% Novo, 25% Em atendimento, 15% Agendado, 10% Ganho, 10% Perdido (closed).
    # 60% assigned among the members; 15% unread; 30% ads (90% with a click id), 10% links.
    conn.execute(f"""
        INSERT INTO tickets (organization_id, contact_id, whatsapp_account_id, stage_id,
            assignee_id, closed_at, imported, last_message_at, unread_count, lead_source,
            ctwa_clid, source_id, source_type, source_url, ad_headline, ad_body,
            utm_source, utm_medium, utm_campaign, tracking_link_id, created_at, version)
        SELECT %(org)s, x.id, %(acc)s, (%(stages)s::int[])[x.st], x.assignee,
            CASE WHEN x.st >= 4 THEN x.lm END, false, x.lm,
            CASE WHEN x.r_un < 0.15 THEN 1 + floor(x.r_un * 33)::int ELSE 0 END,
            x.src,
            CASE WHEN x.src = 'ad' AND x.r_src > 0.03 THEN 'ARAkBench' || md5(x.id::text) END,
            CASE WHEN x.src = 'ad' THEN '1202' || floor(x.r_src / 0.3 * 20)::int END,
            CASE WHEN x.src = 'ad' THEN 'ad' END,
            CASE WHEN x.src = 'ad' THEN 'https://fb.me/bench' || floor(x.r_src * 100)::int END,
            CASE WHEN x.src = 'ad'
                 THEN ({_array(AD_HEADLINES)})[1 + floor(x.r_src / 0.3 * 5)::int] END,
            CASE WHEN x.src = 'ad' THEN 'Agende pelo WhatsApp' END,
            CASE WHEN x.src = 'link' THEN 'google' END,
            CASE WHEN x.src = 'link' THEN 'cpc' END,
            CASE WHEN x.src = 'link' THEN 'campanha-1' END,
            CASE WHEN x.src = 'link' THEN (SELECT min(id) FROM tracking_links
                                           WHERE organization_id = %(org)s) END,
            x.lm - (1 + floor(x.r_un * 20)) * interval '1 day', 1
        FROM (
            SELECT c.id, now() - random() * interval '90 days' AS lm,
                   CASE WHEN r.st < 0.40 THEN 1 WHEN r.st < 0.65 THEN 2 WHEN r.st < 0.80 THEN 3
                        WHEN r.st < 0.90 THEN 4 ELSE 5 END AS st,
                   CASE WHEN r.asg < 0.6 THEN (%(members)s::int[])[
                        1 + floor(r.asg / 0.6 * cardinality(%(members)s::int[]))::int] END
                        AS assignee,
                   r.un AS r_un, r.src AS r_src,
                   CASE WHEN r.src < 0.30 THEN 'ad' WHEN r.src < 0.40 THEN 'link'
                        ELSE 'organic' END AS src
            FROM contacts c,
                 LATERAL (SELECT random() st, random() asg, random() un, random() src,
                                 c.id AS k) r
            WHERE c.organization_id = %(org)s
        ) x""", params)
    # The last message, its preview and the 24-hour window, from the same arithmetic
    # _messages uses: ticket t has 2 + (t*7 mod 17) messages (10 on average), message k is
    # inbound when k = 1 or (t + k) mod 3 <> 0, and they are 37 minutes apart.
    conn.execute(f"""
        UPDATE tickets t SET
            last_message_preview = ({_array(PHRASES)})[
                1 + (t.id * 31 + (2 + (t.id * 7) %% 17) * 17) %% {len(PHRASES)}],
            last_inbound_at = t.last_message_at - CASE WHEN (t.id + 2 + (t.id * 7) %% 17) %% 3 <> 0
                THEN interval '0' ELSE interval '37 minutes' END
        WHERE t.organization_id = %(org)s""", params)
    conn.execute("UPDATE tickets SET window_expires_at = last_inbound_at + interval '24 hours' "
                 "WHERE organization_id = %(org)s", params)


def _messages(conn, org: Org) -> None:
    conn.execute(f"""
        INSERT INTO messages (organization_id, ticket_id, contact_id, whatsapp_account_id,
            wamid, direction, origin, type, text, is_history, status, error, timestamp,
            status_at, forwarded, referral, media_id, media_mime_type, media_caption,
            media_state, created_at, send_attempts, sent_by_id)
        SELECT m.organization_id, m.ticket_id, m.contact_id, m.whatsapp_account_id,
            'wamid.B' || m.ticket_id || '.' || m.k, m.dir,
            CASE WHEN m.dir = 'inbound' THEN 'customer'
                 WHEN m.k %% 5 = 0 THEN 'business_app_echo' ELSE 'web' END,
            CASE WHEN m.k %% 9 = 0 THEN 'image' ELSE 'text' END,
            CASE WHEN m.k %% 9 = 0 THEN NULL
                 WHEN m.k = 2 THEN 'Meu protocolo é P' || m.ticket_id
                 ELSE ({_array(PHRASES)})[1 + (m.ticket_id * 31 + m.k * 17) %% {len(PHRASES)}]
            END,
            false,
            CASE WHEN m.dir = 'inbound' THEN 'delivered'
                 ELSE (ARRAY['read','read','delivered','sent','read','delivered','read',
                             'read','delivered','sent','read','delivered','read','read',
                             'delivered','read','read','delivered','sent','failed'])[
                      1 + (m.ticket_id + m.k) %% 20] END,
            CASE WHEN m.dir = 'outbound' AND (m.ticket_id + m.k) %% 20 = 19
                 THEN '{{"code": 131047, "title": "Re-engagement message"}}'::json END,
            m.ts, m.ts, false,
            CASE WHEN m.k = 1 AND m.lead_source = 'ad' THEN json_build_object(
                'source_type', 'ad', 'source_id', m.source_id, 'headline', m.ad_headline,
                'body', 'Agende pelo WhatsApp', 'source_url', m.source_url,
                'ctwa_clid', m.ctwa_clid) END,
            CASE WHEN m.k %% 9 = 0 THEN 'media' || m.ticket_id || '.' || m.k END,
            CASE WHEN m.k %% 9 = 0 THEN 'image/jpeg' END,
            CASE WHEN m.k %% 9 = 0 THEN 'Foto do exame' END,
            CASE WHEN m.k %% 9 = 0 THEN 'stored' ELSE 'none' END,
            m.ts, CASE WHEN m.dir = 'outbound' THEN 1 ELSE 0 END,
            CASE WHEN m.dir = 'outbound' THEN m.assignee_id END
        FROM (
            SELECT t.organization_id, t.id AS ticket_id, t.contact_id, t.whatsapp_account_id,
                   t.lead_source, t.source_id, t.ad_headline, t.source_url, t.ctwa_clid,
                   t.assignee_id, k,
                   CASE WHEN k = 1 OR (t.id + k) %% 3 <> 0 THEN 'inbound' ELSE 'outbound' END
                       AS dir,
                   t.last_message_at - (2 + (t.id * 7) %% 17 - k) * interval '37 minutes' AS ts
            FROM tickets t, generate_series(1, 2 + (t.id * 7) %% 17) k
            WHERE t.organization_id = %s
        ) m""", (org.id,))


def _touches(conn, org: Org) -> None:
    """Ad tickets' first message is their touch (the evidence behind the ticket's fields)."""
    conn.execute("""
        INSERT INTO ticket_touches (organization_id, ticket_id, message_id, wamid, kind,
            touched_at, ctwa_clid, source_id, source_type, source_url, headline, body,
            link_id, created_at)
        SELECT t.organization_id, t.id, m.id, m.wamid, t.lead_source, m.timestamp,
               t.ctwa_clid, t.source_id, t.source_type, t.source_url, t.ad_headline,
               t.ad_body, t.tracking_link_id, m.timestamp
        FROM tickets t JOIN messages m
          ON m.organization_id = t.organization_id AND m.wamid = 'wamid.B' || t.id || '.1'
        WHERE t.organization_id = %s AND t.lead_source IN ('ad', 'link')""", (org.id,))
