"""The sync repo with real git: init, dirty refusal, atomic trees, no empty commits."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from snapshotsync.errors import DirtyStoreError
from snapshotsync.store import Store, StoreError
from tests.helpers import git


def make_store(tmp_path: Path) -> Store:
    return Store.init(tmp_path / "repo", {"snapshotsync.yaml": "format_version: 1\n"}, "init")


def test_init_creates_a_repo_with_one_commit(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert git(store.path, "log", "--format=%s").splitlines() == ["init"]
    assert (store.path / "snapshotsync.yaml").read_text() == "format_version: 1\n"


def test_init_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(StoreError, match="not empty"):
        Store.init(tmp_path / "used", {}, "init")


def test_a_folder_without_git_is_not_a_sync_repo(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a sync repo"):
        Store(tmp_path)


def test_commit_only_when_something_changed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n", "b/c.yaml": "c: 1\n"})
    first = store.commit(["snapshot"], "export 1")
    assert first is not None and str(first[1]) == "+2 ~0 -0"
    store.write_tree("snapshot", {"a.yaml": "a: 1\n", "b/c.yaml": "c: 1\n"})
    assert store.commit(["snapshot"], "export 2") is None
    store.write_tree("snapshot", {"a.yaml": "a: 2\n", "d.yaml": "d: 1\n"})
    third = store.commit(["snapshot"], "export 3")
    assert third is not None and str(third[1]) == "+1 ~1 -1"
    assert git(store.path, "log", "--format=%s").splitlines() == ["export 3", "export 1", "init"]


def test_write_tree_replaces_the_whole_tree(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"old.yaml": "x\n"})
    store.write_tree("snapshot", {"new.yaml": "y\n"})
    assert store.read_tree("snapshot") == {"new.yaml": "y\n"}
    assert not list((store.path / ".snapshotsync").iterdir())  # no scratch left behind


def test_a_failed_write_leaves_the_previous_tree(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"keep.yaml": "x\n"})
    with pytest.raises(OSError):
        # A path that cannot be a file (a file and a folder of the same name).
        store.write_tree("snapshot", {"a": "1\n", "a/b.yaml": "2\n"})
    assert store.read_tree("snapshot") == {"keep.yaml": "x\n"}


def test_uncommitted_changes_under_the_tree_are_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    store.commit(["snapshot"], "export")
    store.ensure_clean("snapshot")
    (store.path / "snapshot" / "a.yaml").write_text("a: 2\n")
    with pytest.raises(DirtyStoreError, match="uncommitted changes"):
        store.ensure_clean("snapshot")
    (store.path / "snapshot" / "a.yaml").write_text("a: 1\n")
    (store.path / "snapshot" / "new.yaml").write_text("n: 1\n")
    with pytest.raises(DirtyStoreError, match=r"new\.yaml"):
        store.ensure_clean("snapshot")


def test_changes_elsewhere_do_not_block(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (store.path / "overlays").mkdir()
    (store.path / "overlays" / "prod.yaml").write_text("environments: {}\n")
    store.ensure_clean("snapshot")


def test_log_returns_messages_of_matching_commits(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a\n"})
    store.commit(["snapshot"], "export: one\n\nAdded: 1")
    entries = store.log(["snapshot"])
    assert [e[2] for e in entries] == ["export: one\n\nAdded: 1"]


def test_commits_work_where_git_knows_no_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{role}_EMAIL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-such-gitconfig"))
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    assert store.commit(["snapshot"], "export") is not None
    assert (
        git(store.path, "log", "-1", "--format=%an <%ae>")
        == "snapshotsync <snapshotsync@localhost>\n"
    )


def test_past_files_lists_every_path_ever_committed_with_the_texts_asked_for(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"tenants/QA Crew/tenant.yaml": "a\n", "p/process.yaml": "v1\n"})
    store.commit(["snapshot"], "export 1")
    store.write_tree("snapshot", {"p/process.yaml": "v2\n"})
    store.commit(["snapshot"], "export 2")
    past = store.past_files("snapshot", lambda path: path.endswith("process.yaml"))
    assert past["tenants/QA Crew/tenant.yaml"] == []  # deleted since; its text not asked for
    assert sorted(past["p/process.yaml"]) == ["v1\n", "v2\n"]


def test_a_dirty_path_with_a_space_is_named_exactly(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("targets/prod", {"My Notes.yaml": "a: 1\n"})
    store.commit(["targets"], "push")
    (store.path / "targets" / "prod" / "My Notes.yaml").write_text("a: 2\n")
    with pytest.raises(DirtyStoreError, match=r"\(e\.g\. targets/prod/My Notes\.yaml\): commit"):
        store.ensure_clean("targets/prod")


def test_a_tree_written_file_by_file_ends_up_exactly_as_finished(tmp_path: Path) -> None:
    """Files written ahead that the tree does not hold after all go, with their folders;
    files whose text changed are written again; the tree is swapped in only at `finish`."""
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"keep.yaml": "x\n"})
    with store.tree_writer("snapshot") as tree:
        tree.write("a.yaml", "a: 1\n")
        tree.write("gone/deep/b.yaml", "b: 1\n")
        tree.write("c/c.yaml", "c: old\n")
        assert store.read_tree("snapshot") == {"keep.yaml": "x\n"}  # nothing swapped in yet
        tree.finish({"a.yaml": "a: 1\n", "c/c.yaml": "c: new\n", "d.yaml": "d: 1\n"})
    assert store.read_tree("snapshot") == {
        "a.yaml": "a: 1\n",
        "c/c.yaml": "c: new\n",
        "d.yaml": "d: 1\n",
    }
    assert not (store.path / "snapshot" / "gone").exists()
    assert not list((store.path / ".snapshotsync").iterdir())  # no scratch left behind


def test_the_contents_of_files_written_ahead_are_in_git_before_staging(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    text = "written: ahead\n"
    with store.tree_writer("snapshot") as tree:
        tree.write("ahead.yaml", text)
        tree.finish({"ahead.yaml": text})
    content = text.encode()
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    git(store.path, "cat-file", "-e", blob)  # stored, though nothing was staged yet
    first = store.commit(["snapshot"], "export")
    assert first is not None and str(first[1]) == "+1 ~0 -0"


def _loose_objects(repo: Path) -> set[str]:
    folders = (repo / ".git" / "objects").glob("[0-9a-f][0-9a-f]")
    return {folder.name + entry.name for folder in folders for entry in folder.iterdir()}


def test_the_folders_trees_are_in_git_before_the_commit_and_no_ref_is_left(
    tmp_path: Path,
) -> None:
    """The commit after a tree writer finds every folder's tree stored already (it would
    otherwise write one loose object per folder), whatever the names hold; the scratch ref
    fast-import built them on is gone again."""
    store = make_store(tmp_path)
    names = ['a b/"quoted" \\ back.yaml', "ctl/\x01\x7f.yaml", "ünï/😀.yaml", "x/y/z/deep.yaml"]
    # Enough folders that fast-import keeps its pack (it unpacks fewer than 100 objects).
    files = {f"p{n:03d}/{name}": f"n: {n}\n" for n in range(40) for name in names}
    with store.tree_writer("snapshot") as tree:
        for relative, text in files.items():
            tree.write(relative, text)
        tree.finish(files)
    before = _loose_objects(store.path)
    committed = store.commit(["snapshot"], "export")
    assert committed is not None and str(committed[1]) == f"+{len(files)} ~0 -0"
    made = _loose_objects(store.path) - before
    # The commit and the repo's root tree (it holds more than snapshot/): no folder's tree.
    root = git(store.path, "rev-parse", "HEAD^{tree}").strip()
    assert made == {committed[0], root}
    assert store.read_tree("snapshot") == files
    assert git(store.path, "for-each-ref") == git(store.path, "for-each-ref", "refs/heads")
    assert git(store.path, "fsck", "--no-dangling") == ""


def test_a_tree_never_finished_leaves_the_previous_one(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"keep.yaml": "x\n"})
    with pytest.raises(RuntimeError), store.tree_writer("snapshot") as tree:
        tree.write("half.yaml", "h: 1\n")
        raise RuntimeError("the read failed half-way")
    assert store.read_tree("snapshot") == {"keep.yaml": "x\n"}
    assert not list((store.path / ".snapshotsync").iterdir())


# ---------------------------------------------------------------- only regular files


def test_a_symbolic_link_to_a_file_outside_is_refused_and_named(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"environments/Staging.yaml": "Name: Staging\n"})
    outside = tmp_path / "secret.yaml"
    outside.write_text("Name: stolen\n")
    link = store.path / "snapshot" / "environments" / "Prod.yaml"
    link.symlink_to(outside)
    with pytest.raises(StoreError, match=r"environments/Prod\.yaml: a symbolic link; .*regular"):
        store.read_tree("snapshot")


def test_a_symbolic_link_to_a_folder_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.yaml").write_text("b: 1\n")
    (store.path / "snapshot" / "projects").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match=r"snapshot/projects: a symbolic link"):
        store.read_tree("snapshot")


def test_a_tree_that_is_itself_a_link_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (store.path / "snapshot").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match=r"snapshot: a symbolic link"):
        store.read_tree("snapshot")


def test_a_fifo_is_refused_instead_of_blocking_the_read(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    os.mkfifo(store.path / "snapshot" / "pipe.yaml")
    with pytest.raises(StoreError, match=r"pipe\.yaml: a FIFO"):
        store.read_tree("snapshot")


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    (store.path / "snapshot" / "a.yaml").write_bytes(b"Name: \xff\n")
    with pytest.raises(StoreError, match=r"a\.yaml: not UTF-8 text \(byte 6\)"):
        store.read_tree("snapshot")


def test_read_file_refuses_a_link_and_reads_a_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.read_file("snapshotsync.yaml") == "format_version: 1\n"
    assert store.read_file("missing.yaml") is None
    (store.path / "link.yaml").symlink_to(store.path / "snapshotsync.yaml")
    with pytest.raises(StoreError, match="a symbolic link"):
        store.read_file("link.yaml")


# ---------------------------------------------------------------- the machine fails


def test_a_full_disk_while_writing_is_one_clear_line_and_keeps_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    store.write_tree("snapshot", {"keep.yaml": "x\n"})

    def full(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(StoreError, match=r"cannot write .*snapshot: no space left on the device"):
        store.write_tree("snapshot", {"new.yaml": "y\n"})
    monkeypatch.undo()
    assert store.read_tree("snapshot") == {"keep.yaml": "x\n"}


def test_a_stale_index_lock_is_explained(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    store.ensure_index_unlocked()
    (store.path / ".git" / "index.lock").write_text("")
    with pytest.raises(StoreError, match=r"\.git/index\.lock exists: .*delete that file"):
        store.ensure_index_unlocked()
    store.write_tree("snapshot", {"a.yaml": "a: 1\n"})
    with pytest.raises(StoreError, match=r"index\.lock exists"):
        store.commit(["snapshot"], "export")


def test_a_detached_head_is_known(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert not store.detached()
    git(store.path, "checkout", "-q", store.head())
    assert store.detached()


# ---------------------------------------------------------------- interrupted writes


def _announced(tmp_path: Path) -> tuple[Store, dict[str, str]]:
    store = make_store(tmp_path)
    store.write_tree("targets/prod", {"last-push.yaml": "n: 1\n", "state/a.yaml": "a: 1\n"})
    store.commit(["targets/prod"], "push 1")
    files = {"last-push.yaml": "n: 2\n", "state/a.yaml": "a: 2\n", "state/b.yaml": "b: 1\n"}
    store.begin_write("push-prod", "targets/prod", files, "push 2\n\nTarget: prod")
    return store, files


def test_a_write_killed_before_its_commit_is_recognised_as_written(tmp_path: Path) -> None:
    store, files = _announced(tmp_path)
    store.write_tree("targets/prod", files)  # ... and the run is killed here
    [pending] = store.pending_writes()
    assert pending.name == "push-prod" and pending.message == "push 2\n\nTarget: prod"
    assert store.pending_state(pending) == ("written", "last-push.yaml")


def test_a_hand_edit_on_top_of_an_interrupted_write_is_not_taken_for_it(tmp_path: Path) -> None:
    store, files = _announced(tmp_path)
    store.write_tree("targets/prod", files)
    (store.path / "targets" / "prod" / "last-push.yaml").write_text("n: 3\n")
    [pending] = store.pending_writes()
    assert store.pending_state(pending) == ("edited", "last-push.yaml")


def test_a_write_killed_before_the_swap_left_nothing_to_recover(tmp_path: Path) -> None:
    store, _ = _announced(tmp_path)
    (store.path / "targets" / "prod" / "state" / "a.yaml").write_text("a: 2\n")  # read first
    [pending] = store.pending_writes()
    assert store.pending_state(pending) == ("not-written", "state/a.yaml")


def test_a_committed_write_leaves_only_its_announcement_to_forget(tmp_path: Path) -> None:
    store, files = _announced(tmp_path)
    store.write_tree("targets/prod", files)
    store.commit(["targets/prod"], "push 2")
    [pending] = store.pending_writes()
    assert store.pending_state(pending) == ("committed", "")
    store.end_write("push-prod")
    assert store.pending_writes() == []


def test_an_unreadable_announcement_is_a_clear_error(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (store.path / ".snapshotsync" / "pending").mkdir(parents=True)
    (store.path / ".snapshotsync" / "pending" / "export.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"export\.json: unreadable note of an interrupted"):
        store.pending_writes()


def test_a_scratch_file_a_killed_write_left_is_removed_before_the_next_write(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path)
    store.write_file("targets/prod/base/a.yaml", "a: 1\n")
    left = tmp_path / "repo" / "targets" / "prod" / "base" / ".write-99999.tmp"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_text("a: ")  # a kill -9 between the scratch's write and its rename
    store.clean_scratch()
    assert not left.exists()
    assert (left.parent / "a.yaml").read_text() == "a: 1\n"


def test_a_full_disk_leaves_the_file_as_it_was_and_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    store.write_file("targets/prod/x.yaml", "x: 1\n")
    store.append_file("targets/prod/j.yaml", "- [a]\n")
    real = Path.write_text

    def full(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real(self, data[:2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(StoreError, match="no space left on the device"):
        store.write_file("targets/prod/x.yaml", "x: 2\n")
    folder = store.path / "targets" / "prod"
    assert sorted(p.name for p in folder.iterdir()) == ["j.yaml", "x.yaml"]
    assert (folder / "x.yaml").read_text() == "x: 1\n"
