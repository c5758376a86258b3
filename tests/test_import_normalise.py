"""Pure-logic units of the CSV import: names, emails, phones, dates, headers."""

from __future__ import annotations

from datetime import date, time

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from wedsync_cli.transform.dates import AmbiguousDate, BadDate, decide_order, parse_date, parse_time
from wedsync_cli.transform.emails import InvalidEmail, normalise_email
from wedsync_cli.transform.headers import resolve_headers
from wedsync_cli.transform.names import split_couple, split_person
from wedsync_cli.transform.phones import normalise_phone


@pytest.mark.parametrize("cell, p1, p2", [
    ("Jane & John Smith", ("Jane", "Smith"), ("John", "Smith")),
    ("Jane and John Smith", ("Jane", "Smith"), ("John", "Smith")),
    ("Smith, Jane and John", ("Jane", "Smith"), ("John", "Smith")),
    ("Jane Smith and John Doe", ("Jane", "Smith"), ("John", "Doe")),
    ("Jane Smith & John Doe", ("Jane", "Smith"), ("John", "Doe")),
    ("Anna van der Berg & Tom Jones", ("Anna", "van der Berg"), ("Tom", "Jones")),
    ("JANE SMITH", ("Jane", "Smith"), None),
    ("Smith, Jane", ("Jane", "Smith"), None),
    ("Mr and Mrs John Smith", ("John", "Smith"), None),
    ("Priya", ("Priya", None), None),
])
def test_couple_names(cell, p1, p2):
    assert split_couple(cell) == (p1, p2)


def test_single_person_names_keep_their_case():
    assert split_person("Siobhán McDonald") == ("Siobhán", "McDonald")
    assert split_person("seán o'brien") == ("Seán", "O'Brien")


def test_emails_are_trimmed_lower_cased_and_checked():
    assert normalise_email("  Jane.Smith@Gmail.COM ") == "jane.smith@gmail.com"
    assert normalise_email("") is None
    for bad in ("jane@gmail", "no-email", "a@@b.com", "ravi patel@x.com", "x@host.test", "a..b@x.com"):
        with pytest.raises(InvalidEmail):
            normalise_email(bad)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcXY0.-_+@&' é", min_size=1, max_size=30))
def test_fast_email_path_never_accepts_what_email_validator_refuses(text):
    try:
        ours = normalise_email(text)
    except InvalidEmail:
        ours = None
    v = text.strip().strip("<>").strip().lower()
    try:
        theirs = validate_email(v, check_deliverability=False).normalized.lower() if v else None
    except EmailNotValidError:
        theirs = None
    assert ours == theirs


def test_phones_become_e164_in_the_studio_region():
    assert normalise_phone("07911 123456", "GB") == "+447911123456"
    assert normalise_phone("0044 7911 123456", "GB") == "+447911123456"
    assert normalise_phone("(212) 736-5000", "US") == "+12127365000"
    assert normalise_phone("+1 212 736 5000", "GB") == "+12127365000"
    assert normalise_phone("call me", "GB") is None
    assert normalise_phone("12", "GB") == "12"  # kept as written rather than lost


def test_dates_iso_first_then_the_files_order():
    assert parse_date("2027-06-05", "mdy") == date(2027, 6, 5)  # ISO is never swapped
    assert parse_date("05/06/2027", "dmy") == date(2027, 6, 5)
    assert parse_date("05/06/2027", "mdy") == date(2027, 5, 6)
    assert parse_date("25.06.27", None) == date(2027, 6, 25)
    assert parse_date("June 5th, 2027", None) == date(2027, 6, 5)
    assert parse_date("Sat 5 Jun 2027", None) == date(2027, 6, 5)
    with pytest.raises(AmbiguousDate):
        parse_date("05/06/2027", None)
    assert parse_date("TBD", "dmy") is None and parse_date("tbc.", None) is None and parse_date(" - ", None) is None
    for bad in ("31/02/2027", "2027-13-01", "someday", "32/05/2027"):
        with pytest.raises(BadDate):
            parse_date(bad, "dmy")


def test_the_file_decides_its_date_order_from_unambiguous_dates():
    assert decide_order(["05/06/2027", "25/06/2027", "2027-01-01"])[0] == "dmy"
    assert decide_order(["05/06/2027", "06/25/2027"])[0] == "mdy"
    assert decide_order(["05/06/2027", "04/03/2027"])[0] is None
    assert decide_order(["25/06/2027", "06/25/2027"])[0] is None  # contradicts itself


def test_times():
    assert parse_time("14:00") == time(14, 0)
    assert parse_time("2pm") == time(14, 0)
    assert parse_time("1:30 PM") == time(13, 30)
    assert parse_time("") is None
    with pytest.raises(BadDate):
        parse_time("25:00")


def test_headers_are_recognised_case_and_punctuation_insensitively():
    headers = ["COUPLE NAME", "E-Mail", "partner_email", "Mobile", "Wedding-Date", "Start Time", "venue", "Stage",
               "ID", "Favourite colour"]
    fields, unmapped = resolve_headers(headers)
    assert fields == {"name": 0, "email": 1, "partner_email": 2, "phone": 3, "date": 4, "start_time": 5,
                      "venue": 6, "status": 7, "external_id": 8}
    assert [headers[i] for i in unmapped] == ["Favourite colour"]


def test_explicit_mapping_wins_over_automatic_names():
    fields, unmapped = resolve_headers(["Email", "Backup Email", "Big Day"],
                                       {"email": ["backup email"], "date": ["Big Day"]})
    assert fields == {"email": 1, "date": 2}
    assert unmapped == [0]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["GB", "US", "IE"]),
       st.sampled_from(["0{a}{b}", "+44 {a} {b}", "0044{a}{b}", "+44 (0){a} {b}", "({a}) {b}", "+1 {a}-{b}", "1{a}{b}"]),
       st.from_regex(r"[0-9]{3,4}", fullmatch=True), st.from_regex(r"[0-9]{5,7}", fullmatch=True))
def test_fast_phone_path_agrees_with_libphonenumber(region, shape, a, b):
    import phonenumbers

    from wedsync_cli.transform.phones import _fast

    text = shape.format(a=a, b=b)
    fast = _fast(text, region)
    if fast is None:
        return
    num = phonenumbers.parse(text.replace("0044", "+44", 1) if text.startswith("0044") else text, region)
    if fast == text:  # kept as written: libphonenumber must agree it is not a valid number
        assert not phonenumbers.is_valid_number(num)
        return
    assert phonenumbers.is_valid_number(num)
    assert fast == phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
