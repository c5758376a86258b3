"""`schedule install/remove`: systemd units (checked with systemd-analyze verify) and cron lines."""

import os
import shutil
import stat
import subprocess

import pytest

WEEKDAY = {"WEDSYNC_NOW": "2026-06-10T12:00:00+01:00"}  # a Wednesday without weddings: no protocol


def test_dry_run_prints_each_unit_after_its_name_and_installs_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    r = cli("schedule", "install", "--systemd", "--user", "--dry-run")
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "xdg" / "systemd" / "user"
    names = [line[2:] for line in r.stdout.splitlines() if line.startswith("# /")]
    assert names == [str(folder / f"wedsync-{j}.{k}") for j in ("sync", "send", "health") for k in ("service", "timer")]
    assert not folder.exists()
    text = r.stdout
    assert "OnCalendar=*:0/15" in text and "OnCalendar=*:0/2" in text and "OnCalendar=*:0/5" in text
    assert text.count("Persistent=true") == 3 and text.count("SuccessExitStatus=75") == 3
    assert text.count("Type=oneshot") == 3 and "TimeoutStartSec=" in text and "RandomizedDelaySec=" in text
    assert "--quiet send --flush" in text and "--quiet health check" in text
    assert f"Environment=WEDSYNC_CONFIG={os.environ['WEDSYNC_CONFIG']}" in text
    assert f"Environment=WEDSYNC_HOME={os.environ['WEDSYNC_HOME']}" in text


def test_cron_dry_run_lines(cli):
    r = cli("schedule", "install", "--cron", "--dry-run")
    assert r.exit_code == 0, r.stderr
    jobs = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    assert [j.split()[0] for j in jobs] == ["*/15", "*/2", "*/5"]
    for j in jobs:
        assert " -n -E 75 " in j and "flock" in j.split()[5]
        assert "WEDSYNC_CONFIG=" in j and ">>" in j and j.endswith("2>&1")


def _install_units(cli_subprocess, tmp_path, config_dir_name="conf dir"):
    xdg = tmp_path / "xdg"
    r = cli_subprocess("schedule", "install", "--systemd", "--user", "--no-enable",
                       extra_env={"XDG_CONFIG_HOME": str(xdg)})
    assert r.exit_code == 0, r.stderr
    return xdg / "systemd" / "user"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_installed_units_pass_systemd_analyze_verify(cli_subprocess, tmp_path):
    folder = _install_units(cli_subprocess, tmp_path)
    files = sorted(folder.iterdir())
    assert len(files) == 6
    p = subprocess.run(["systemd-analyze", "verify", *[str(f) for f in files]], capture_output=True, text=True,
                       cwd=folder)
    assert p.returncode == 0, p.stderr
    # ExecStart is the absolute path of the running executable (python -m wedsync_cli here)
    exec_line = next(line for line in (folder / "wedsync-sync.service").read_text().splitlines()
                     if line.startswith("ExecStart="))
    assert os.path.isabs(exec_line.split("=", 1)[1].split()[0].strip('"'))


def test_units_with_spaces_and_percent_in_paths_verify(cli, tmp_path, monkeypatch):
    odd = tmp_path / "my 100% config"
    odd.mkdir()
    monkeypatch.setenv("WEDSYNC_CONFIG", str(odd / "config.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    r = cli("schedule", "install", "--systemd", "--user", "--no-enable")
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / "xdg" / "systemd" / "user"
    svc = (folder / "wedsync-health.service").read_text()
    assert f'Environment="WEDSYNC_CONFIG={odd}/config.toml"'.replace("%", "%%") in svc
    if shutil.which("systemd-analyze"):
        p = subprocess.run(["systemd-analyze", "verify", *sorted(str(f) for f in folder.iterdir())],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    r = cli("schedule", "remove", "--systemd", "--user", env=WEEKDAY)
    assert r.exit_code == 0 and list(folder.iterdir()) == []


@pytest.fixture
def fake_crontab(tmp_path):
    """A `crontab` on PATH that keeps the table in a file (the real one needs a cron spool)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    table = tmp_path / "crontab.txt"
    script = bindir / "crontab"
    script.write_text(f"""#!/bin/sh
if [ "$1" = "-l" ]; then [ -f "{table}" ] && cat "{table}" && exit 0; echo "no crontab for $USER" >&2; exit 1; fi
if [ "$1" = "-" ]; then cat > "{table}"; exit 0; fi
exit 2
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bindir, table


def test_cron_install_keeps_other_lines_is_idempotent_and_removable(cli_subprocess, fake_crontab):
    bindir, table = fake_crontab
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    table.write_text("MAILTO=\"\"\n0 3 * * * /usr/local/bin/backup\n")
    for _ in range(2):
        r = cli_subprocess("schedule", "install", "--cron", extra_env=env)
        assert r.exit_code == 0, r.stderr
    lines = table.read_text().splitlines()
    assert lines[:2] == ['MAILTO=""', "0 3 * * * /usr/local/bin/backup"]
    assert sum(1 for line in lines if "--quiet sync" in line) == 1
    assert sum(1 for line in lines if line.startswith("# BEGIN wedsync:default")) == 1
    r = cli_subprocess("schedule", "remove", "--cron", extra_env={**env, **WEEKDAY})
    assert r.exit_code == 0, r.stderr
    assert table.read_text().splitlines() == ['MAILTO=""', "0 3 * * * /usr/local/bin/backup"]


def test_cron_line_really_runs_and_flock_gives_75_when_held(cli, fake_crontab, tmp_path):
    """The installed command line works under /bin/sh, and a held cron lock gives exit 75."""
    r = cli("schedule", "install", "--cron", "--dry-run")
    line = next(j for j in r.stdout.splitlines() if "health check" in j)
    command = line.split(" ", 5)[5].replace("\\%", "%")
    lock = command.split()[4]
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    p = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    holder = subprocess.Popen(["flock", lock, "sleep", "30"])
    try:
        import time

        for _ in range(100):  # wait until the holder has the lock (not a timing assertion)
            if subprocess.run(["flock", "-n", lock, "true"]).returncode != 0:
                break
            time.sleep(0.05)
        p = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60)
        assert p.returncode == 75
    finally:
        holder.kill()
        holder.wait()


def test_both_kinds_is_a_usage_error(cli):
    r = cli("schedule", "install", "--systemd", "--cron")
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_remove_on_a_wedding_day_needs_force(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli("schedule", "install", "--systemd", "--user", "--no-enable").exit_code == 0
    folder = tmp_path / "xdg" / "systemd" / "user"
    saturday = {"WEDSYNC_NOW": "2026-06-13T12:00:00+01:00"}
    r = cli("schedule", "remove", "--systemd", "--user", env=saturday)
    assert r.exit_code == 2 and "wedding-day protocol is active" in r.stderr and "--force" in r.stderr
    assert len(list(folder.iterdir())) == 6
    r = cli("schedule", "remove", "--systemd", "--user", "--force", env=saturday)
    assert r.exit_code == 0 and list(folder.iterdir()) == []
    r = cli("wedding-day", "log", "--json", env=saturday)
    assert [d["decision"] for d in r.json["decisions"]][:2] == ["force", "refuse"]
