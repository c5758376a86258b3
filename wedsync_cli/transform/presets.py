"""Known exports' columns, by preset name (``--preset NAME``, ``[sources.x] preset = "NAME"``).

Each preset maps our fields (see ``headers.FIELDS``) to the column names that export uses (any of
them may be present). Add a preset with one entry in ``PRESETS`` (or ``register_preset``).

The vendors don't publish their export columns (research: crm-import.md marks HoneyBook, Dubsado
and Táve CSV columns as unverified), so these are the columns their field names and import
screens use; anything a real export names differently is still caught by the automatic header
names or kept raw, and ``--mapping`` fixes the rest.
"""

from __future__ import annotations

PRESETS: dict[str, dict[str, list[str]]] = {
    # HoneyBook: one project per row, one full-name column for the client(s).
    "honeybook": {
        "name": ["Client Name", "Full Name", "Client Full Name", "Contact Name"],
        "email": ["Client Email", "Email", "Email Address"],
        "phone": ["Client Phone", "Phone", "Phone Number"],
        "date": ["Project Date", "Project Start Date", "Event Date", "Event Start Date", "Wedding Date"],
        "start_time": ["Project Start Time", "Start Time"],
        "end_time": ["Project End Time", "End Time"],
        "venue": ["Project Location", "Location", "Venue"],
        "status": ["Project Stage", "Pipeline Stage", "Stage", "Status"],
        "external_id": ["Project ID", "Project Id"],
    },
    # Dubsado: a client plus an "alternate contact" (the partner).
    "dubsado": {
        "first_name": ["Client First Name", "First Name"],
        "last_name": ["Client Last Name", "Last Name"],
        "email": ["Client Email", "Email"],
        "phone": ["Client Phone", "Phone"],
        "partner_first_name": ["Alt Contact First Name", "Alternate Contact First Name"],
        "partner_last_name": ["Alt Contact Last Name", "Alternate Contact Last Name"],
        "partner_email": ["Alt Contact Email", "Alternate Contact Email"],
        "partner_phone": ["Alt Contact Phone", "Alternate Contact Phone"],
        "date": ["Project Start Date", "Project Date", "Job Date", "Event Date", "Event Start Date",
                 "Ceremony Date", "Wedding Date", "Start Date"],
        "start_time": ["Project Start Time", "Event Start Time", "Start Time"],
        "end_time": ["Project End Time", "Event End Time", "End Time"],
        "venue": ["Job Address", "Project Address", "Project Location", "Location", "Venue"],
        "status": ["Project Status", "Status", "Lead Status"],
        "external_id": ["Project ID", "Client ID"],
    },
    # Táve / VSCO Workspace: the API's field names as column titles.
    "tave": {
        "first_name": ["First Name", "firstName"],
        "last_name": ["Last Name", "lastName"],
        "email": ["Email", "email"],
        "phone": ["Cell Phone", "cellPhone", "Mobile Phone"],
        "partner_first_name": ["Partner First Name", "Second Client First Name"],
        "partner_last_name": ["Partner Last Name", "Second Client Last Name"],
        "partner_email": ["Partner Email", "Second Client Email", "secondaryEmail"],
        "partner_phone": ["Partner Cell Phone", "Second Client Cell Phone"],
        "date": ["Event Date", "eventDate", "Job Date"],
        "start_time": ["Start Time", "startTime"],
        "end_time": ["End Time", "endTime"],
        "venue": ["Location", "Venue", "Event Location"],
        "status": ["Stage", "stage", "Job Stage"],
        "external_id": ["Job ID", "jobId", "Id"],
    },
    # A hand-kept spreadsheet with both partners spelled out on one row.
    "couple-per-row": {
        "first_name": ["Partner 1 First Name", "Partner A First Name", "Bride First Name"],
        "last_name": ["Partner 1 Last Name", "Partner A Last Name", "Bride Last Name"],
        "email": ["Partner 1 Email", "Partner A Email", "Bride Email"],
        "phone": ["Partner 1 Phone", "Partner A Phone", "Bride Phone"],
        "partner_first_name": ["Partner 2 First Name", "Partner B First Name", "Groom First Name"],
        "partner_last_name": ["Partner 2 Last Name", "Partner B Last Name", "Groom Last Name"],
        "partner_email": ["Partner 2 Email", "Partner B Email", "Groom Email"],
        "partner_phone": ["Partner 2 Phone", "Partner B Phone", "Groom Phone"],
        "date": ["Wedding Date", "Date"],
        "start_time": ["Ceremony Time", "Start Time"],
        "end_time": ["Reception End", "End Time"],
        "venue": ["Venue", "Location"],
        "status": ["Status", "Stage"],
        "external_id": ["ID", "Ref"],
    },
}

# Status words of the known exports -> our statuses (lead | booked | completed | cancelled).
STATUS_WORDS: dict[str, str] = {
    "lead": "lead", "leads": "lead", "inquiry": "lead", "enquiry": "lead", "new": "lead", "prospect": "lead",
    "proposal": "lead", "proposal sent": "lead", "follow up": "lead", "pending": "lead", "quoted": "lead",
    "booked": "booked", "confirmed": "booked", "retained": "booked", "contract signed": "booked",
    "signed": "booked", "active": "booked", "fulfillment": "booked", "planning": "booked", "won": "booked",
    "deposit paid": "booked", "retainer paid": "booked",
    "completed": "completed", "complete": "completed", "done": "completed", "delivered": "completed",
    "archived": "completed", "closed won": "completed", "past": "completed",
    "cancelled": "cancelled", "canceled": "cancelled", "lost": "cancelled", "closed lost": "cancelled",
    "declined": "cancelled", "archived lost": "cancelled", "dead": "cancelled", "postponed indefinitely": "cancelled",
}


def register_preset(name: str, columns: dict[str, list[str]]) -> None:
    PRESETS[name] = columns


def preset_names() -> list[str]:
    return sorted(PRESETS)
