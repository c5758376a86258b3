"""Run the CLI as users do: in-process (CliRunner, separate stdout/stderr) or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


def run_subprocess(args: list[str], env: dict[str, str], input: str | None = None, timeout: float = 120,
                   cwd: Path | None = None) -> Result:
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "wedsync_cli", *args], env=full_env, input=input,
                       capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr)
