"""`snapshotsync init`'s templates: every commented example in them is valid as written.

The overlay template shows each section commented out; uncommenting a section must give
an overlay the tool accepts (checked against the sample snapshots, so names count too),
and the `http:` block of `snapshotsync.yaml` must load with the defaults it states.
"""

from __future__ import annotations

import re
from pathlib import Path

from snapshotsync import layout, overlay
from snapshotsync.commands.init import InitOptions, config_text, overlay_text
from snapshotsync.model import Snapshot
from snapshotsync.settings import Http, load_config

SAMPLES = Path(__file__).resolve().parent.parent / "sample-snapshots"


def _snapshot(name: str) -> Snapshot:
    root = SAMPLES / name
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.yaml"))
    }
    return layout.parse(files, str(root))


def uncommented(text: str) -> str:
    """Every commented-out top-level section (`# key:` and its indented `#   ...` lines)
    turned into YAML; explanations (`# Text`) stay comments."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r"^# [a-z_-]+:", line):
            inside = True
            out.append(line[2:])
        elif inside and line.startswith("#   "):
            out.append(line[2:])
        else:
            inside = inside and line.startswith("#")
            out.append(line)
    return "\n".join(out) + "\n"


def test_the_overlay_template_validates_with_every_section_uncommented(tmp_path: Path) -> None:
    text = overlay_text("prod", [("Staging", "Staging"), ("Production", "Production")])
    path = tmp_path / "prod.yaml"
    path.write_text(text)
    plain, _ = overlay.load(path, _snapshot("source"), _snapshot("destination"))
    assert dict(plain.environments) == {"Staging": "Staging", "Production": "Production"}
    assert plain.variables == overlay.VariablePolicy() and plain.rename["accounts"] == {}

    path.write_text(uncommented(text))
    full, warnings = overlay.load(path, _snapshot("source"), _snapshot("destination"))
    assert warnings == []
    # Every section is there, with the defaults the comments state.
    assert full.exclude.keys() == set(overlay.EXCLUDABLE)
    assert dict(full.rename["accounts"]) == {"Dev/Test Account": "Staging/Prod Account"}
    assert full.include == {"projects": ("OctoFX",)}
    policy = full.variables
    assert set(policy.scoping.values()) == {"skip-unless-partial"}
    assert (policy.overwrite, policy.new_out_of_scope) == (None, "clone")
    assert (policy.placeholder, policy.sensitive_placeholder) == ("Replace Me", "CHANGE_ME")
    assert policy.values["OctoFX/Api.Key"] == "${env:PROD_PRICING_API_KEY}"
    assert full.step_out_of_scope == "skip" and "OctoFX/QA Sign-off" in full.rescope
    assert full.tenant_variables == "copy"
    defaults = overlay.VariablePolicy()
    assert (policy.overwrite, policy.new_out_of_scope, policy.placeholder) == (
        defaults.overwrite,
        defaults.new_out_of_scope,
        defaults.placeholder,
    )


def test_the_overlay_template_names_every_top_level_key() -> None:
    text = overlay_text("prod")
    for key in overlay.TOP_KEYS:
        assert re.search(rf"^(# )?{key}:", text, re.MULTILINE), key
    for policy in overlay.POLICIES + overlay.DIMENSIONS:
        assert policy in text, policy
    assert "design" not in text  # it used to send users to a document they do not have


def test_the_config_template_documents_http_with_its_real_defaults(tmp_path: Path) -> None:
    text = config_text(InitOptions(tmp_path, space="Octo: Space"))
    (tmp_path / "snapshotsync.yaml").write_text(uncommented(text))
    config = load_config(tmp_path)
    assert config.http == Http()
    assert config.source.space == "Octo: Space"
    for key in ("timeout", "retries", "backoff", "max_rps"):
        assert f"#   {key}:" in text
