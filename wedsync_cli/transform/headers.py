"""Column headers -> our fields, case- and punctuation-insensitively (contract "import csv").

Our fields: first_name, last_name, partner_first_name, partner_last_name, name (a couple or
client name in one cell), partner_name (the partner's full name), email, partner_email, phone,
partner_phone, date, start_time, end_time, venue, status, external_id, notes. A ``--mapping`` file or ``--preset`` wins over the
automatic names; columns matching nothing are kept raw (client ``extra`` and ``source_records``).
"""

from __future__ import annotations

import re

FIELDS = ("first_name", "last_name", "partner_first_name", "partner_last_name", "name", "partner_name", "email",
          "partner_email", "phone", "partner_phone", "date", "start_time", "end_time", "venue",
          "status", "external_id", "notes")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name", "forename", "client first name",
                   "partner 1 first name", "partner1 first name", "bride first name", "contact first name"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "client last name",
                  "partner 1 last name", "partner1 last name", "bride last name", "contact last name"),
    "partner_first_name": ("partner first name", "partner 2 first name", "partner2 first name", "spouse first name",
                           "fiance first name", "groom first name", "alt contact first name",
                           "alternate contact first name", "second first name", "partner firstname"),
    "partner_last_name": ("partner last name", "partner 2 last name", "partner2 last name", "spouse last name",
                          "fiance last name", "groom last name", "alt contact last name",
                          "alternate contact last name", "second last name", "partner surname", "partner lastname"),
    "name": ("name", "names", "couple", "couple name", "couple names", "couples name", "client", "client name",
             "clients", "full name", "contact", "contact name", "customer", "customer name", "partner 1 name",
             "partner1 name", "partner 1", "bride", "bride name", "client 1 name", "primary contact"),
    "partner_name": ("partner name", "partner 2 name", "partner2 name", "partner 2", "partner", "spouse",
                     "spouse name", "fiance", "fiance name", "fiancé", "fiancé name", "groom", "groom name",
                     "client 2 name", "second client", "second client name", "partner full name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "client email", "partner 1 email",
              "partner1 email", "primary email", "contact email", "bride email", "email 1", "email1"),
    "partner_email": ("partner email", "partner e-mail", "partner 2 email", "partner2 email", "spouse email",
                      "alt contact email", "alternate contact email", "secondary email", "second email",
                      "partner email address", "groom email", "email 2", "email2", "e-mail 2", "other email"),
    "phone": ("phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "cell", "cell phone",
              "client phone", "partner 1 phone", "partner1 phone", "primary phone", "contact phone", "mobile number",
              "cell number", "telephone number", "phone 1", "bride phone"),
    "partner_phone": ("partner phone", "partner 2 phone", "partner2 phone", "spouse phone", "partner mobile",
                      "alt contact phone", "alternate contact phone", "secondary phone", "partner phone number",
                      "phone 2", "phone2", "mobile 2", "groom phone", "other phone"),
    "date": ("wedding date", "date", "event date", "date of wedding", "wedding day", "ceremony date",
             "project date", "job date", "date of event", "big day", "shoot date",
             # Dubsado/HoneyBook project dates ("Project Start Date" is the wedding day there)
             "project start date", "event start date", "job start date", "wedding start date",
             "ceremony start date", "event day", "project event date"),
    "start_time": ("start time", "start", "time", "ceremony time", "event start", "starts", "from", "begin",
                   "ceremony start", "coverage start", "start at", "project start time", "event start time",
                   "job start time"),
    "end_time": ("end time", "end", "finish", "finish time", "event end", "ends", "until", "to", "reception end",
                 "coverage end", "end at", "project end time", "event end time", "job end time"),
    "venue": ("venue", "location", "venue name", "event location", "wedding venue", "place", "project location",
              "job location", "ceremony venue", "ceremony location", "job address", "project address",
              "event address", "venue address"),
    "status": ("status", "stage", "lead status", "project stage", "booking status", "pipeline stage", "job stage"),
    "external_id": ("id", "external id", "client id", "contact id", "record id", "project id", "job id", "ref",
                    "reference", "customer id", "uid"),
    "notes": ("notes", "note", "comments", "comment", "remarks"),
}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def norm_header(h: str) -> str:
    """'  Wedding-Date ' -> 'weddingdate'; also drops a stray BOM and '#'."""
    return _NON_ALNUM.sub("", h.replace("\ufeff", "").strip().lower())


AUTO: dict[str, str] = {norm_header(s): f for f, names in _SYNONYMS.items() for s in names}


def resolve_headers(headers: list[str], explicit: dict[str, list[str]] | None = None) -> tuple[dict[str, int], list[int]]:
    """(our field -> column index, indexes of unmapped columns).

    ``explicit`` (mapping file or preset): our field -> their column names, any of which may be
    present. A column an explicit entry claims is never auto-mapped to another field."""
    normed = [norm_header(h) for h in headers]
    fields: dict[str, int] = {}
    used: set[int] = set()
    for field, names in (explicit or {}).items():
        for name in names:
            n = norm_header(name)
            if n in normed and normed.index(n) not in used:
                fields[field] = normed.index(n)
                used.add(fields[field])
                break
    for i, n in enumerate(normed):
        if i in used or not n:
            continue
        field = AUTO.get(n)
        if field and field not in fields:
            fields[field] = i
            used.add(i)
    unmapped = [i for i in range(len(headers)) if i not in used and headers[i].strip()]
    return fields, unmapped
