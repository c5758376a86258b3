"""Regenerate examples/clients-messy.csv: ~250 rows of a UK studio's client list as vendors
really have them (deterministic: fixed seed).

Messy on purpose: UTF-8 with a BOM, semicolon-separated, mixed-case headers, couples written
several ways, the same couple twice (email in other case, phone in another format), national and
international phone numbers, some invalid emails and impossible dates, blank lines, statuses
lead/booked/cancelled/empty, times present and absent, venues with commas (quoted).

    python examples/make_messy_csv.py [OUT]
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

FIRST = ["Amelia", "Olivia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Chloé", "Zoë", "Freya", "Aoife", "Siobhán",
         "Priya", "Aisha", "Mei", "Lucía", "Ingrid", "Noémie", "Hannah", "Emily", "Oliver", "George", "Harry",
         "Noah", "Jack", "Leo", "Arthur", "Oscar", "Théo", "Finn", "Rory", "Callum", "Ravi", "Omar", "Tomás",
         "Søren", "James", "William", "Daniel", "Samuel"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
        "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "O'Brien", "McDonald",
        "Patel", "Khan", "Nowak", "García", "Müller", "Øster", "van der Berg", "Lefèvre", "Murphy", "Kelly"]
VENUES = ["Hengrave Hall", "The Barn at Bury, Suffolk", "St Mary's Church, Lavenham", "Kew Gardens",
          "Pennard House", "Leez Priory, Essex", "The Ned, London", "Chewton Glen", "Cripps Barn",
          "Château Rhianfa, Anglesey", "Hedingham Castle", "Gaynes Park", "Trevenna Barns, Cornwall",
          "Register Office, Cambridge", "Soho Farmhouse", ""]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "icloud.com", "btinternet.com", "proton.me"]
STATUSES = ["booked"] * 9 + ["Booked", "BOOKED", "lead", "Lead", "lead", "Enquiry", "cancelled", "Cancelled", "", "",
                             "Confirmed"]
BAD_EMAILS = ["jane.smith@gmail", "no-email-yet", "tom@@outlook.com", "ravi patel@icloud.com", "amy@gmail..com",
              "hello@", "@yahoo.co.uk", "sam@localhost"]
HEADERS = ["COUPLE NAME", "e-mail", "Partner E-mail", "Mobile", "partner phone", "Wedding Date", "start time",
           "End Time", "Venue", "Stage", "How did you hear about us?", "Package"]


def ascii_local(name: str) -> str:
    import unicodedata

    s = unicodedata.normalize("NFKD", name)
    return "".join(c for c in s if c.isalnum() and ord(c) < 128).lower()


def phone(rng: random.Random) -> str:
    n = f"7{rng.randint(100, 999)}{rng.randint(100000, 999999)}"
    return rng.choice([f"0{n[:4]} {n[4:]}", f"+44 {n[:4]} {n[4:]}", f"0{n}", f"+44{n}", f"0044 {n[:4]} {n[4:]}",
                       f"(0{n[:4]}) {n[4:7]}-{n[7:]}"])


def fmt_date(d: date, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return d.strftime("%d/%m/%Y")
    if r < 0.7:
        return d.isoformat()
    if r < 0.85:
        return f"{d.day} {d.strftime('%B %Y')}"
    if r < 0.93:
        return d.strftime("%d.%m.%Y")
    return d.strftime("%a %d %b %Y")


def couple_cell(a: tuple[str, str], b: tuple[str, str] | None, rng: random.Random) -> str:
    if b is None:
        return rng.choice([f"{a[0]} {a[1]}", f"{a[1]}, {a[0]}", f"{a[0]} {a[1]}".upper()])
    if a[1] == b[1]:
        return rng.choice([f"{a[0]} & {b[0]} {a[1]}", f"{a[1]}, {a[0]} and {b[0]}", f"{a[0]} and {b[0]} {a[1]}"])
    return rng.choice([f"{a[0]} {a[1]} & {b[0]} {b[1]}", f"{a[0]} {a[1]} and {b[0]} {b[1]}"])


def rows(rng: random.Random) -> list[list[str]]:
    out: list[list[str]] = []
    couples = []
    for i in range(232):
        a = (rng.choice(FIRST), rng.choice(LAST))
        single = rng.random() < 0.12
        b = None if single else (rng.choice([f for f in FIRST if f != a[0]]),
                                 a[1] if rng.random() < 0.45 else rng.choice(LAST))
        day = date(2026, 3, 1) + timedelta(days=rng.randint(0, 900))
        if rng.random() < 0.7:  # Saturdays dominate
            day += timedelta(days=(5 - day.weekday()) % 7)
        email = f"{ascii_local(a[0])}.{ascii_local(a[1])}{i}@{rng.choice(DOMAINS)}"
        partner_email = f"{ascii_local(b[0])}{i}@{rng.choice(DOMAINS)}" if b and rng.random() < 0.6 else ""
        if i % 29 == 3:
            email = BAD_EMAILS[(i // 29) % len(BAD_EMAILS)]
        timed = rng.random() < 0.45
        start = rng.choice(["13:00", "14:00", "2pm", "12:30", "15:30", "1:30 PM"]) if timed else ""
        end = rng.choice(["23:00", "23:30", "midnight", "00:30", "22:00"]) if timed else ""
        if end == "midnight":
            end = "00:00"
        venue = rng.choice(VENUES)
        date_cell = fmt_date(day, rng)
        if i in (17, 88, 141, 203):
            date_cell = ["31/02/2027", "30/02/2026", "2027-13-05", "32/05/2027"][(17, 88, 141, 203).index(i)]
        row = [couple_cell(a, b, rng), email, partner_email, phone(rng) if rng.random() < 0.85 else "",
               phone(rng) if b and rng.random() < 0.4 else "", date_cell, start, end, venue, rng.choice(STATUSES),
               rng.choice(["Instagram", "Hitched", "Friend", "Google", "", "Venue recommendation"]),
               rng.choice(["Full day", "Half day", "Elopement", "", "Full day + album"])]
        out.append(row)
        couples.append(row)
    # The same couple again later in the file: email in other case, phone written differently,
    # sometimes the venue or start time filled in at last.
    for row in rng.sample([r for r in couples if "@" in r[1] and "." in r[1].split("@")[-1]
                           and "/02/" not in r[5] and "-13-" not in r[5] and "32/" not in r[5]], 18):
        dup = list(row)
        dup[1] = dup[1].upper() if rng.random() < 0.5 else dup[1].title()
        dup[3] = dup[3].replace(" ", "") if dup[3] else dup[3]
        if not dup[8]:
            dup[8] = "Hengrave Hall"
        out.insert(rng.randint(len(out) // 2, len(out)), dup)
    for _ in range(6):  # blank lines, as spreadsheets leave them
        out.insert(rng.randint(1, len(out)), [""] * len(HEADERS))
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("clients-messy.csv")
    rng = random.Random(20270605)
    with out.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(HEADERS)
        for r in rows(rng):
            if not any(r):
                f.write("\r\n")
            else:
                w.writerow(r)
    print(out)


if __name__ == "__main__":
    main()
