"""Pydantic models of what the state holds, in users' words (contract "Data the state holds").

These are the validated shapes every source produces (through the transformation engine) and
every calendar consumes. Normalisation (emails, phones, names, dates) happens before these are
built; the validators here enforce the invariants.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from datetime import date as Date  # a field named `date` shadows the type inside WeddingData
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wedsync_cli.domain.hashing import content_hash  # noqa: F401 - re-exported (its home is light)

WeddingStatus = Literal["lead", "booked", "completed", "cancelled"]
EventKind = Literal["wedding", "consultation", "engagement", "rehearsal", "meeting", "other"]


def new_id(prefix: str) -> str:
    """Our ids: a short prefix + 20 hex chars. Hex is a subset of base32hex, so an event id is
    also a valid client-chosen Google event id and a safe file name / iCalendar UID part."""
    return f"{prefix}{secrets.token_hex(10)}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Person(_Model):
    first: str | None = None
    last: str | None = None
    email: str | None = None  # normalised: trimmed, domain lower-cased
    phone: str | None = None  # E.164

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first, self.last) if p)

    def is_empty(self) -> bool:
        return not (self.first or self.last or self.email or self.phone)


class ClientData(_Model):
    partner1: Person
    partner2: Person | None = None
    notes: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_someone(self) -> ClientData:
        if self.partner1.is_empty() and (self.partner2 is None or self.partner2.is_empty()):
            raise ValueError("no name, email or phone for either partner")
        if self.partner2 is not None and self.partner2.is_empty():
            self.partner2 = None
        return self

    @property
    def kind(self) -> Literal["couple", "single"]:
        return "couple" if self.partner2 is not None else "single"

    @property
    def display_name(self) -> str:
        return couple_name(self.partner1, self.partner2)

    def emails(self) -> list[str]:
        return [p.email.lower() for p in (self.partner1, self.partner2) if p is not None and p.email]


def couple_name(p1: Person, p2: Person | None) -> str:
    """'Jane & John Smith' when they share a last name, 'Jane Doe & John Smith' otherwise."""
    if p2 is None:
        return p1.name or p1.email or p1.phone or "Unnamed client"
    if p1.last and p2.last and p1.last.lower() == p2.last.lower() and p1.first and p2.first:
        return f"{p1.first} & {p2.first} {p1.last}"
    a = p1.name or p1.email or "?"
    b = p2.name or p2.email or "?"
    return f"{a} & {b}"


class WeddingData(_Model):
    date: Date | None = None
    venue: str | None = None
    status: WeddingStatus = "booked"
    external_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class EventData(_Model):
    kind: EventKind = "wedding"
    title: str | None = None  # None: the engine names it after the couple
    all_day: bool = False
    start: date | datetime
    end: date | datetime
    tz: str | None = None
    location: str | None = None
    description: str | None = None
    external_id: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v):
        if isinstance(v, datetime) and v.tzinfo is None:
            raise ValueError("date-times must carry a time zone")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> EventData:
        if self.all_day:
            if isinstance(self.start, datetime) or isinstance(self.end, datetime):
                raise ValueError("an all-day event takes dates, not date-times")
        elif not (isinstance(self.start, datetime) and isinstance(self.end, datetime)):
            raise ValueError("a timed event takes date-times")
        if self.end <= self.start:
            raise ValueError("the event ends before it starts")
        return self


class ImportRecord(_Model):
    """One record a source produced: a client with (optionally) a wedding and its events.

    ``source`` names the source (``csv:clients``, ``tave:main``); ``external_id`` is the
    source's own id for the client (contact id), used to recognise the record next time.
    ``raw`` is the record as the source gave it, kept so nothing unmapped is ever lost.
    """

    source: str
    external_id: str | None = None
    client: ClientData
    wedding: WeddingData | None = None
    events: list[EventData] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)
    row_number: int | None = None


class Rejected(_Model):
    """A record the source could not turn into an ImportRecord, with the reason."""

    source: str
    reason: str
    raw: dict[str, Any] = Field(default_factory=dict)
    row_number: int | None = None
