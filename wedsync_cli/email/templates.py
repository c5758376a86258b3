"""Email templates: Jinja2 with StrictUndefined; each template is a folder with ``subject.txt``,
``body.txt`` and (optionally) ``body.html``.

Search order (first hit wins, per file): ``[email] templates_dir``, ``<state_dir>/templates/``
(``email/`` inside it also accepted), then the shipped ``wedsync_cli/templates/email/``. A template
that uses a variable the data does not have raises DataError (exit 65) naming the variable
(values that are unknown, such as a wedding without a venue, are left out of the context, so a
template decides with ``{% if wedding.venue is defined %}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wedsync_cli.errors import DataError, UsageError

SHIPPED = Path(__file__).resolve().parent.parent / "templates" / "email"
PARTS = ("subject.txt", "body.txt", "body.html")
# What each shipped template is for (shown by `send --list`); overrides may add their own.
DESCRIPTIONS = {
    "booking-confirmation": "Thanks the couple and confirms the booked date (needs --wedding or --client)",
    "timeline-update": "The wedding's events as they stand now, with what changed (needs --wedding or --client)",
    "wedding-week-reminder": "One week to go: the plan for the day (needs --wedding or --client)",
    "test": "A provider check that needs nothing but --to",
}


class Vars(dict):
    """A dict that knows its dotted path, so a missing key can be named (``wedding.venue``)."""

    def __init__(self, path: str, data: dict[str, Any]):
        super().__init__({k: wrap(f"{path}.{k}", v) for k, v in data.items() if v is not None})
        self.path = path


def wrap(path: str, value: Any) -> Any:
    if isinstance(value, Vars):
        return value
    if isinstance(value, dict):
        return Vars(path, value)
    if isinstance(value, list):
        return [wrap(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return value


@dataclass
class Rendered:
    template: str
    subject: str
    text: str
    html: str | None


def search_dirs(rt) -> list[Path]:
    dirs: list[Path] = []
    configured = rt.config.email.templates_dir
    if configured:
        dirs.append(rt.config.resolve_path(configured))
    profile = rt.paths.state_dir / "templates"
    dirs += [profile / "email", profile]
    dirs.append(SHIPPED)
    return dirs


def available(rt) -> dict[str, dict[str, Any]]:
    """name -> {"description", "source"} for every template folder with a subject and a body."""
    out: dict[str, dict[str, Any]] = {}
    for d in reversed(search_dirs(rt)):  # later (more specific) dirs override earlier ones
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if sub.is_dir() and (sub / "subject.txt").is_file() and (sub / "body.txt").is_file():
                out[sub.name] = {"description": DESCRIPTIONS.get(sub.name, "custom template"),
                                 "source": "shipped" if d == SHIPPED else str(sub)}
    return dict(sorted(out.items()))


class _Environment:
    def __init__(self, rt):
        import jinja2

        class NamedUndefined(jinja2.StrictUndefined):
            @property
            def _undefined_message(self) -> str:  # noqa: D401 - jinja2 hook
                if self._undefined_hint:
                    return self._undefined_hint
                owner = getattr(self._undefined_obj, "path", None)
                if self._undefined_obj is jinja2.utils.missing or owner is None:
                    return f"'{self._undefined_name}' is undefined"
                return f"'{owner}.{self._undefined_name}' is undefined"

        loader = jinja2.FileSystemLoader([str(d) for d in search_dirs(rt)])
        self.text = jinja2.Environment(loader=loader, undefined=NamedUndefined, autoescape=False,
                                       keep_trailing_newline=True)
        self.html = jinja2.Environment(loader=loader, undefined=NamedUndefined, autoescape=True,
                                       keep_trailing_newline=True)


def render(rt, name: str, context: dict[str, Any], *, needs_hint: str | None = None) -> Rendered:
    import jinja2

    names = available(rt)
    if name not in names:
        raise UsageError(f"There is no email template named {name!r}",
                         fix=f"use one of {', '.join(names)} (see `wedsync send --list`)")
    env = _Environment(rt)
    ctx = {k: wrap(k, v) for k, v in context.items() if v is not None}
    out: dict[str, str | None] = {}
    for part in PARTS:
        try:
            tpl = (env.html if part.endswith(".html") else env.text).get_template(f"{name}/{part}")
        except jinja2.TemplateNotFound:
            out[part] = None
            continue
        except jinja2.TemplateSyntaxError as exc:
            raise DataError(f"The template {name}/{part} has a syntax error on line {exc.lineno}: {exc.message}",
                            fix=f"fix {exc.filename or part}") from None
        try:
            out[part] = tpl.render(ctx)
        except jinja2.UndefinedError as exc:
            var = str(exc.message or exc).split("'")[1] if "'" in str(exc.message or exc) else str(exc)
            raise DataError(
                f"The template {name} needs the variable {var}, which this message does not have",
                fix=needs_hint or "pick a wedding or client that has it (--wedding ID / --client ID), "
                                  "or adjust the template",
            ) from None
    subject = " ".join((out["subject.txt"] or "").split())
    if not subject:
        raise DataError(f"The template {name} renders an empty subject", fix=f"edit {name}/subject.txt")
    return Rendered(template=name, subject=subject, text=out["body.txt"] or "", html=out["body.html"])
