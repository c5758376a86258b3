"""The periodic jobs as systemd oneshot services + timers, or as crontab lines with flock.

sync every 15 min, ``send --flush`` every 2, ``health check`` every 5. Units run the absolute
path of the running executable (a venv or pipx install is on neither cron's nor systemd's PATH)
and carry WEDSYNC_CONFIG / WEDSYNC_HOME / WEDSYNC_PROFILE (and PYTHON_KEYRING_BACKEND when set),
so the scheduled runs see the same config, state and keyring as the command that installed them.
Exit 75 (another run holds the lock, rate limited) counts as success for systemd, and cron's
``flock -n -E 75`` gives an overlapping run the same code.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from wedsync_cli.errors import ConfigError, PartialFailure, UsageError


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[str, ...]
    description: str
    on_calendar: str     # systemd OnCalendar
    cron: str            # crontab schedule
    timeout: str         # TimeoutStartSec (oneshot has none by default)
    random_delay: str    # RandomizedDelaySec


JOBS = (
    Job("sync", ("sync",), "sync calendars and CRM sources", "*:0/15", "*/15 * * * *", "14min", "2min"),
    Job("send", ("send", "--flush"), "deliver due emails and webhooks", "*:0/2", "*/2 * * * *", "110s", "15s"),
    Job("health", ("health", "check"), "probe providers, record health, send alerts", "*:0/5", "*/5 * * * *",
        "4min", "30s"),
)
PASS_ENV = ("WEDSYNC_CONFIG", "WEDSYNC_HOME", "WEDSYNC_PROFILE", "PYTHON_KEYRING_BACKEND")


def executable() -> list[str]:
    """The absolute command line of the running wedsync."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name.startswith("wedsync") and argv0.suffix != ".py":
        found = argv0 if argv0.is_file() else Path(shutil.which(str(argv0)) or "")
        if found.is_file():
            return [os.path.abspath(found)]
    beside = Path(sys.executable).parent / "wedsync"
    if beside.is_file():
        return [os.path.abspath(beside)]
    return [os.path.abspath(sys.executable), "-m", "wedsync_cli"]


def environment(rt) -> dict[str, str]:
    """What the scheduled runs need to find this config, state and keyring."""
    env = {"WEDSYNC_CONFIG": str(Path(rt.paths.config_file).absolute()), "WEDSYNC_PROFILE": rt.paths.profile}
    if rt.env.get("WEDSYNC_HOME"):
        env["WEDSYNC_HOME"] = str(Path(rt.env["WEDSYNC_HOME"]).absolute())
    if rt.env.get("PYTHON_KEYRING_BACKEND"):
        env["PYTHON_KEYRING_BACKEND"] = rt.env["PYTHON_KEYRING_BACKEND"]
    return env


def unit_prefix(rt) -> str:
    return "wedsync" if rt.paths.profile == "default" else f"wedsync-{rt.paths.profile}"


# -- systemd ---------------------------------------------------------------------------------
def _sd_quote(value: str) -> str:
    """A word for ExecStart=/Environment=: double-quoted, specifiers (%) escaped."""
    v = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{v}"' if any(c in v for c in " \t'\"\\;$") or not v else v


def systemd_units(rt, user: bool) -> dict[str, str]:
    """{file name: content} for every job's .service and .timer."""
    exe = executable()
    env = environment(rt)
    prefix = unit_prefix(rt)
    units: dict[str, str] = {}
    run_as = None
    if not user:
        run_as = os.environ.get("SUDO_USER") or _current_user()
    for job in JOBS:
        cmd = " ".join(_sd_quote(w) for w in [*exe, "--quiet", *job.args])
        env_lines = "".join(f"Environment={_sd_quote(f'{k}={v}')}\n" for k, v in env.items())
        service = (
            "[Unit]\n"
            f"Description=wedsync ({rt.paths.profile}): {job.description}\n"
            "Wants=network-online.target\n"
            "After=network-online.target\n"
            "\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"ExecStart={cmd}\n"
            f"{env_lines}"
            f"TimeoutStartSec={job.timeout}\n"
            "# 75 = another run holds the lock or a rate limit outlasted the run: try again next time\n"
            "SuccessExitStatus=75\n"
            + (f"User={run_as}\n" if run_as and run_as != "root" else "")
        )
        timer = (
            "[Unit]\n"
            f"Description=wedsync ({rt.paths.profile}): {job.description} on schedule\n"
            "\n"
            "[Timer]\n"
            f"OnCalendar={job.on_calendar}\n"
            "Persistent=true\n"
            f"RandomizedDelaySec={job.random_delay}\n"
            "AccuracySec=1s\n"
            f"Unit={prefix}-{job.name}.service\n"
            "\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        )
        units[f"{prefix}-{job.name}.service"] = service
        units[f"{prefix}-{job.name}.timer"] = timer
    return units


def _current_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return ""


def systemd_dir(rt, user: bool) -> Path:
    if user:
        base = rt.env.get("XDG_CONFIG_HOME") or str(Path(rt.env.get("HOME") or Path.home()) / ".config")
        return Path(base) / "systemd" / "user"
    return Path(rt.env.get("WEDSYNC_SYSTEMD_DIR") or "/etc/systemd/system")


def _systemctl(user: bool, *args: str) -> tuple[bool, str]:
    exe = shutil.which("systemctl")
    if exe is None:
        return False, "systemctl is not installed"
    cmd = [exe, *(["--user"] if user else []), *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def install_systemd(rt, user: bool, enable: bool = True) -> dict:
    units = systemd_units(rt, user)
    folder = systemd_dir(rt, user)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            tmp = folder / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, folder / name)
    except PermissionError:
        raise UsageError(f"Cannot write units to {folder} (permission denied)",
                         fix="rerun with sudo for system units, or add --user for your own user's units") from None
    timers = [n for n in units if n.endswith(".timer")]
    result = {"kind": "systemd", "user": user, "folder": str(folder), "files": sorted(units), "enabled": False}
    if not enable:
        return result
    scope = "--user " if user else ""
    ok, msg = _systemctl(user, "daemon-reload")
    if ok:
        ok, msg = _systemctl(user, "enable", "--now", *timers)
    if not ok:
        raise PartialFailure(
            f"Wrote {len(units)} unit files to {folder}, but could not enable the timers ({msg})",
            fix=f"run `systemctl {scope}daemon-reload && systemctl {scope}enable --now {' '.join(timers)}`")
    result["enabled"] = True
    return result


def remove_systemd(rt, user: bool) -> dict:
    folder = systemd_dir(rt, user)
    names = sorted(systemd_units(rt, user))
    timers = [n for n in names if n.endswith(".timer")]
    present = [n for n in names if (folder / n).exists()]
    if present:
        _systemctl(user, "disable", "--now", *timers)  # best effort: the files go either way
    for n in present:
        (folder / n).unlink()
    if present:
        _systemctl(user, "daemon-reload")
    return {"kind": "systemd", "user": user, "folder": str(folder), "removed": present}


# -- cron ------------------------------------------------------------------------------------
def _cron_word(value: str) -> str:
    return shlex.quote(value).replace("%", "\\%")  # an unescaped % is a newline to cron


def cron_lines(rt) -> list[str]:
    exe = executable()
    env = environment(rt)
    flock = shutil.which("flock") or "/usr/bin/flock"
    locks = rt.paths.locks_dir
    log = rt.paths.state_dir / "cron.log"
    envwords = ["/usr/bin/env", *[f"{k}={v}" for k, v in env.items()]]
    tag = f"wedsync:{rt.paths.profile}"
    lines = [f"# BEGIN {tag} (written by `wedsync schedule install --cron`; remove with `wedsync schedule remove --cron`)"]
    for job in JOBS:
        # A lock file of cron's own: the job takes its internal lock on a different file.
        words = [flock, "-n", "-E", "75", str(locks / f"cron-{job.name}.lock"), *envwords, *exe, "--quiet", *job.args]
        lines.append(f"{job.cron} {' '.join(_cron_word(w) for w in words)} >>{_cron_word(str(log))} 2>&1")
    lines.append(f"# END {tag}")
    return lines


def _read_crontab() -> str:
    exe = shutil.which("crontab")
    if exe is None:
        raise ConfigError("crontab is not installed on this machine", fix="install cron, or use `--systemd`")
    p = subprocess.run([exe, "-l"], capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else ""  # "no crontab for user" is an empty crontab


def _write_crontab(text: str) -> None:
    exe = shutil.which("crontab") or "crontab"
    p = subprocess.run([exe, "-"], input=text, capture_output=True, text=True)
    if p.returncode != 0:
        raise PartialFailure(f"crontab refused the new table: {p.stderr.strip()}", fix="check `crontab -l` by hand")


def _without_block(text: str, tag: str) -> list[str]:
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith(f"# BEGIN {tag} ") or line == f"# BEGIN {tag}":
            skipping = True
            continue
        if skipping and line.strip() == f"# END {tag}":
            skipping = False
            continue
        if not skipping:
            out.append(line)
    return out


def install_cron(rt) -> dict:
    from wedsync_cli.paths import ensure_private_dir

    ensure_private_dir(rt.paths.locks_dir)
    tag = f"wedsync:{rt.paths.profile}"
    kept = _without_block(_read_crontab(), tag)
    lines = cron_lines(rt)
    _write_crontab("\n".join([*kept, *lines]) + "\n")
    return {"kind": "cron", "lines": lines}


def remove_cron(rt) -> dict:
    tag = f"wedsync:{rt.paths.profile}"
    before = _read_crontab()
    kept = _without_block(before, tag)
    removed = len(before.splitlines()) - len(kept)
    if removed:
        _write_crontab("\n".join(kept) + ("\n" if kept else ""))
    return {"kind": "cron", "removed": removed}


def default_kind() -> str:
    return "systemd" if shutil.which("systemctl") and Path("/run/systemd/system").is_dir() else "cron"
