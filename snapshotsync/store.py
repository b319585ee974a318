"""The sync repo on disk: the only module that speaks git (through gitpython).

A sync repo is a git repository holding `snapshotsync.yaml`, `overlays/`, the last export
under `snapshot/` and per-target records under `targets/`. Trees are written atomically
(into a temporary folder, then swapped in), so a failed run never leaves half a snapshot,
and committed only when something changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from snapshotsync.errors import DirtyStoreError, UserError

SNAPSHOT_DIR = "snapshot"
STATE_DIR = ".snapshotsync"


class StoreError(UserError):
    """git failed, or the folder is not a sync repo."""


@dataclass(frozen=True)
class Changes:
    """Files added, modified and deleted by a commit (or about to be)."""

    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def __str__(self) -> str:
        return f"+{self.added} ~{self.changed} -{self.removed}"


class Store:
    """A sync repo at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.repo = git.Repo(path)
        except (InvalidGitRepositoryError, NoSuchPathError):
            raise StoreError(
                f"{path} is not a sync repo (no git repository): run `snapshotsync init {path}`"
            ) from None

    @classmethod
    def init(cls, path: Path, files: Mapping[str, str], message: str) -> Store:
        """Create a new repo at `path` holding `files`, with a first commit."""
        if (path / ".git").exists():
            raise StoreError(f"{path} is already a git repository; choose an empty folder")
        if path.exists() and any(path.iterdir()):
            raise StoreError(f"{path} is not empty; choose a new or empty folder")
        try:
            repo = git.Repo.init(path, initial_branch="main")
        except GitCommandError as error:
            raise StoreError(f"git init failed in {path}: {error.stderr.strip()}") from None
        for relative, text in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        store = cls(path)
        store._git("add", "--all")
        store._git("commit", "--quiet", "-m", message)
        del repo
        return store

    def _git(self, *args: str) -> str:
        if args and args[0] == "commit":
            args = (*self._identity(), *args)
        try:
            return str(self.repo.git.execute(["git", *args]))
        except GitCommandError as error:
            detail = (error.stderr or str(error)).strip().splitlines()
            raise StoreError(
                f"git {args[0]} failed in {self.path}: {detail[-1] if detail else error}"
            ) from None

    def _identity(self) -> tuple[str, ...]:
        """`-c user.name=... -c user.email=...` when git knows no identity (a fresh machine
        or a CI runner): a sync must not fail at its last step for want of a name."""
        reader = self.repo.config_reader()
        known = reader.has_option("user", "name") and reader.has_option("user", "email")
        if known or (os.environ.get("GIT_AUTHOR_NAME") and os.environ.get("GIT_AUTHOR_EMAIL")):
            return ()
        return ("-c", "user.name=snapshotsync", "-c", "user.email=snapshotsync@localhost")

    # ----------------------------------------------------------------- state

    def ensure_clean(self, subdir: str) -> None:
        """Refuse to touch `subdir` when it holds changes that are not committed."""
        status = self._git("status", "--porcelain", "-z", "--untracked-files=all", "--", subdir)
        if status.strip("\0"):
            first = status.split("\0")[0][3:]  # "XY path", unquoted with -z
            raise DirtyStoreError(
                f"{self.path / subdir} has uncommitted changes (e.g. {first}): commit or "
                f"discard them first (git -C {self.path} status {subdir})"
            )

    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def last_commit(self, subdir: str) -> str:
        """The newest commit that touched `subdir` ("" when none did)."""
        return self._git("log", "-1", "--format=%H", "--", subdir).strip()

    # ----------------------------------------------------------------- trees

    def read_tree(self, subdir: str) -> dict[str, str]:
        """Every file under `subdir` in the working tree: relative path -> text."""
        root = self.path / subdir
        if not root.is_dir():
            return {}
        files = {}
        for file in sorted(root.rglob("*")):
            if file.is_file():
                files[file.relative_to(root).as_posix()] = file.read_text(encoding="utf-8")
        return files

    def write_tree(self, subdir: str, files: Mapping[str, str]) -> None:
        """Replace `subdir` with exactly `files`, atomically: all of them or none."""
        with self.tree_writer(subdir) as tree:
            tree.finish(files)

    def tree_writer(self, subdir: str) -> TreeWriter:
        """`write_tree` in steps: files written as they come, the tree swapped in at the end."""
        return TreeWriter(self, subdir)

    # ----------------------------------------------------------------- commits

    def stage(self, subdirs: list[str]) -> Changes:
        """Stage everything under `subdirs` and count the files added, changed, removed."""
        self._git("add", "--all", "--", *subdirs)
        counts: Counter[str] = Counter()
        for line in self._git("diff", "--cached", "--name-status", "--", *subdirs).splitlines():
            if line.strip():
                counts[line[0]] += 1
        return Changes(added=counts["A"], changed=counts["M"] + counts["R"], removed=counts["D"])

    def commit(
        self, subdirs: list[str], message: str, staged: Changes | None = None
    ) -> tuple[str, Changes] | None:
        """Commit what changed under `subdirs`; None (and no commit) when nothing did.

        `staged` is what `stage` returned, when the caller staged first (to put the counts
        in the message); otherwise the files are staged here.
        """
        changes = staged if staged is not None else self.stage(subdirs)
        if changes.empty:
            return None
        self._git("commit", "--quiet", "-m", message, "--", *subdirs)
        return self.head(), changes

    def past_files(
        self, subdir: str, read: Callable[[str], bool] | None = None
    ) -> dict[str, list[str]]:
        """Every path ever committed under `subdir` (relative to it), with the text of each
        committed version of the paths `read` selects (read-only: git log and blobs)."""
        out = self._git("log", "--format=", "--raw", "--no-abbrev", "--no-renames", "--", subdir)
        files: dict[str, list[str]] = {}
        for line in out.splitlines():
            if not line.startswith(":") or "\t" not in line:
                continue
            fields, path = line.split("\t", 1)
            relative = path.removeprefix(f"{subdir}/")
            texts = files.setdefault(relative, [])
            blob = fields.split()[3]
            if read is not None and read(relative) and blob.strip("0"):
                texts.append(self.repo.odb.stream(bytes.fromhex(blob)).read().decode("utf-8"))
        return files

    def log(self, paths: list[str], limit: int = 200) -> list[tuple[str, str, str]]:
        """(sha, ISO date, full message) of the commits touching `paths`, newest first."""
        separator = "\x1e"
        out = self._git("log", f"-n{limit}", f"--format=%H%x1f%aI%x1f%B{separator}", "--", *paths)
        entries = []
        for record in out.split(separator):
            if record.strip():
                sha, date, message = record.strip("\n").split("\x1f", 2)
                entries.append((sha, date, message.strip()))
        return entries


class TreeWriter:
    """A new tree for `subdir`, written file by file into a scratch folder while the caller
    is still making it (export writes each file while the rest is being read), then swapped
    in whole by `finish`: all of it or nothing, as `Store.write_tree`.

    Alongside, git stores each file's content as it is written (`git fast-import`, one pack
    of the contents it does not hold yet), so the `stage` that follows finds them there
    instead of writing thousands of loose objects after the last file. Nothing refers to
    them until that commit; a tree never finished leaves them for git's garbage collection.
    """

    def __init__(self, store: Store, subdir: str) -> None:
        self.store = store
        self.subdir = subdir
        scratch_root = store.path / STATE_DIR
        scratch_root.mkdir(exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="write-", dir=scratch_root))
        self.fresh = self.scratch / "new"
        self.written: dict[str, str] = {}
        self.made: set[Path] = set()  # folders made so far: one mkdir each, not one a file
        self.hasher: subprocess.Popen[bytes] | None = None
        self.hashing = True  # until git fails to take a path: the head start is optional

    def __enter__(self) -> TreeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, relative: str, text: str) -> None:
        """One file of the new tree (again, when it changed)."""
        target = self.fresh / relative
        if target.parent not in self.made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(target.parent)
        content = text.encode("utf-8")
        target.write_bytes(content)
        self.written[relative] = text
        self._store_object(content)

    def finish(self, files: Mapping[str, str]) -> None:
        """Make the tree exactly `files` (written ahead or not) and swap it in."""
        for relative in set(self.written) - set(files):
            self._remove(relative)
        for relative, text in files.items():
            ahead = self.written.get(relative)
            if ahead is not text and ahead != text:
                self.write(relative, text)
        self._stop_hasher()
        destination = self.store.path / self.subdir
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            destination.replace(self.scratch / "old")
        (self.fresh if self.fresh.exists() else _empty(self.scratch)).replace(destination)

    def close(self) -> None:
        """Forget the scratch folder (after `finish`, or when it never came)."""
        self._stop_hasher()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _remove(self, relative: str) -> None:
        """A file written ahead that the tree does not hold after all, and its empty folders."""
        del self.written[relative]
        target = self.fresh / relative
        target.unlink()
        for folder in target.parents:
            if folder == self.fresh:
                break
            try:
                folder.rmdir()
            except OSError:
                break  # not empty
            self.made.discard(folder)

    def _store_object(self, content: bytes) -> None:
        if not self.hashing:
            return
        if self.hasher is None:
            self.hasher = subprocess.Popen(
                ["git", "fast-import", "--quiet"],
                cwd=self.store.path,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        assert self.hasher.stdin is not None
        try:
            self.hasher.stdin.write(b"blob\ndata %d\n%b\n" % (len(content), content))
        except OSError:
            self.hashing = False  # only a head start: `stage` writes whatever is missing
            self._stop_hasher()

    def _stop_hasher(self) -> None:
        """Let git write what it was given (the end of its input ends it)."""
        hasher, self.hasher = self.hasher, None
        if hasher is not None:
            with contextlib.suppress(OSError):
                assert hasher.stdin is not None
                hasher.stdin.close()
            hasher.wait()


def _empty(scratch: Path) -> Path:
    empty = scratch / "empty"
    empty.mkdir()
    return empty
