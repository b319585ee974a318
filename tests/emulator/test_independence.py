"""The emulator is written from Octopus's contracts, not from the tool: it must not import it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import snapshotsync.emulator

EMULATOR_DIR = Path(snapshotsync.emulator.__file__).parent


def test_emulator_sources_import_only_the_emulator_and_third_parties() -> None:
    offending = []
    for path in sorted(EMULATOR_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["<relative>"]
            for name in names:
                inside_tool = name == "snapshotsync" or name.startswith("snapshotsync.")
                if name == "<relative>" or (
                    inside_tool and not name.startswith("snapshotsync.emulator")
                ):
                    offending.append(f"{path.name}: {name}")
    assert offending == []


def test_importing_the_emulator_loads_no_other_snapshotsync_module() -> None:
    code = (
        "import sys, snapshotsync.emulator.__main__, snapshotsync.emulator.seed;"
        "print(sorted(m for m in sys.modules if m.startswith('snapshotsync')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(out.stdout)
    assert loaded, "the probe imported nothing"
    assert [
        m for m in loaded if m != "snapshotsync" and not m.startswith("snapshotsync.emulator")
    ] == []
