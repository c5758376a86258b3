"""Templates: shipped set, overrides, strict undefined naming the variable, HTML escaping."""

from __future__ import annotations

import pytest

from wedsync_cli.email.templates import available, render
from wedsync_cli.errors import DataError, UsageError


def ctx(**over):
    base = {"studio": {"name": "Studio", "email": "s@example.com"}, "to": "a@example.com", "now": "today",
            "client": {"greeting": "Jane & John", "name": "Jane & John Smith"},
            "wedding": {"id": "w1", "date": "2026-06-13", "date_long": "Saturday 13 June 2026", "venue": None},
            "events": [{"title": "Ceremony", "when": "Sat 13 Jun 2026 13:00–14:00", "location": None}]}
    base.update(over)
    return base


def test_every_shipped_template_renders_subject_text_and_html(runtime, config_file):
    for name in ["booking-confirmation", "timeline-update", "wedding-week-reminder", "test"]:
        r = render(runtime, name, ctx())
        assert r.subject and r.text.strip() and r.html and "<p>" in r.html
    assert "at " not in render(runtime, "booking-confirmation", ctx()).subject  # unknown venue left out


def test_missing_variable_names_the_path(runtime, config_file):
    with pytest.raises(DataError) as e:
        render(runtime, "booking-confirmation", ctx(wedding={"id": "w1"}))
    assert "wedding.date_long" in e.value.message
    with pytest.raises(DataError) as e:
        render(runtime, "timeline-update", {"studio": {"name": "S"}})
    assert "variable client" in e.value.message or "variable wedding" in e.value.message


def test_unknown_template_is_a_usage_error(runtime, config_file):
    with pytest.raises(UsageError):
        render(runtime, "no-such", ctx())


def test_override_dir_from_config_wins_and_html_is_escaped(runtime, config_file, tmp_path):
    tdir = tmp_path / "my-templates" / "booking-confirmation"
    tdir.mkdir(parents=True)
    (tdir / "subject.txt").write_text("Booked: {{ client.name }}")
    (tdir / "body.txt").write_text("Hi {{ client.name }}")
    (tdir / "body.html").write_text("<p>Hi {{ client.name }}</p>")
    extra = tmp_path / "my-templates" / "thank-you"
    extra.mkdir()
    (extra / "subject.txt").write_text("Thanks")
    (extra / "body.txt").write_text("Thanks {{ client.greeting }}")
    config_file.write_text('[email]\ntemplates_dir = "my-templates"\n')
    names = available(runtime)
    assert names["booking-confirmation"]["source"].endswith("booking-confirmation")
    assert "thank-you" in names and names["test"]["source"] == "shipped"
    r = render(runtime, "booking-confirmation", ctx(client={"name": "<b>Jo</b>", "greeting": "Jo"}))
    assert r.subject == "Booked: <b>Jo</b>" and r.text == "Hi <b>Jo</b>"
    assert r.html == "<p>Hi &lt;b&gt;Jo&lt;/b&gt;</p>"
    assert render(runtime, "thank-you", ctx()).html is None
