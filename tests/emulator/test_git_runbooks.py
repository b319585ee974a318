"""Config-as-code runbooks: a project whose runbooks moved into git
(`PersistenceSettings.ConversionState.RunbooksAreInGit`) has them on the git routes only; the
database routes answer with the server's words (OctopusDeploy/Issues#9249)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.test_http import assert_400
from tests.helpers import Emulator, running_emulator

SEED = """
projects:
  - Name: Ops
    ProjectGroupId: Default Project Group
    LifecycleId: Default Lifecycle
    Runbooks:
      - Name: Restart
        Process:
          Steps:
            - Name: Restart
              Actions:
                - {Name: Restart, ActionType: Octopus.Script}
    PersistenceSettings:
      Type: VersionControlled
      Url: https://github.com/octofx/ops.git
      DefaultBranch: main
      Credentials: {Type: Anonymous}
      ConversionState: {VariablesAreInGit: true, RunbooksAreInGit: true}
"""
WORDS = (
    "Received a request for a version-controlled resource on a non-version control route. "
    "To access this resource, include a Git ref in the route."
)


@pytest.fixture
def git_runbooks(tmp_path: Path) -> Iterator[Emulator]:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    with running_emulator(seed=seed) as emulator:
        yield emulator


def test_git_runbooks_are_refused_on_database_routes(git_runbooks: Emulator) -> None:
    e = git_runbooks
    project = e.by_name("projects", "Ops")
    assert project["PersistenceSettings"]["ConversionState"]["RunbooksAreInGit"] is True
    (runbook,) = [r for r in e.get("runbooks/all") if r["ProjectId"] == project["Id"]]
    for path in (
        f"runbooks/{runbook['Id']}",
        f"runbookProcesses/{runbook['RunbookProcessId']}",
        f"projects/{project['Id']}/runbooks",
        f"projects/{project['Id']}/runbookProcesses/{runbook['RunbookProcessId']}",
    ):
        assert_400(e.session.get(e.space_url(path)), WORDS)
    assert_400(e.post("runbooks", {"Name": "New", "ProjectId": project["Id"]}), WORDS)
