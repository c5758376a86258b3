"""`--quiet` is what cron runs: nothing on stdout when all is well, the sentence when not."""

from __future__ import annotations


def test_quiet_health_check_prints_nothing_when_all_is_well(cli, config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    loud = cli("health", "check")
    assert loud.exit_code == 0
    assert "nothing to probe" in loud.stdout
    quiet = cli("--quiet", "health", "check")
    assert quiet.exit_code == 0
    assert quiet.stdout == "" and quiet.stderr == ""


def test_quiet_health_check_still_reports_a_failed_probe(cli, config_file):
    # a Táve source without its credential: the probe fails before any request
    config_file.write_text('timezone = "Europe/London"\n[sources.crm]\nprovider = "tave"\n')
    r = cli("--quiet", "health", "check")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "probe(s) failed" in r.stderr and "tave" in r.stderr and len(r.stderr.strip().splitlines()) == 1
