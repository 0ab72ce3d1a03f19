"""The commit a result file names: marked as changed when code was, not when results or pages were (in
``make bench`` every benchmark after the first finds the earlier ones' results already rewritten)."""

import subprocess
from pathlib import Path

from tutorbook_devstack.bench_machine import describe_code


def git(root: Path, *arguments: str) -> None:
    subprocess.run(["git", "-C", str(root), *arguments], check=True, capture_output=True)


def test_a_result_names_its_commit_dirty_only_when_code_changed(tmp_path: Path) -> None:
    for folder in ("tools", "data", "docs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "file.txt").write_text("committed\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    package_file = str(tmp_path / "tools" / "file.txt")
    commit = describe_code(package_file)
    assert commit is not None and "uncommitted" not in commit
    (tmp_path / "data" / "file.txt").write_text("an earlier benchmark's result\n")
    (tmp_path / "docs" / "file.txt").write_text("a regenerated page\n")
    assert describe_code(package_file) == commit
    (tmp_path / "tools" / "file.txt").write_text("changed code\n")
    assert describe_code(package_file) == f"{commit} (with uncommitted changes)"
