"""Compiled templates are kept in the user's own cache and change nothing written; a folder that is not the user's
own, an edited template and a cache that cannot be written are all handled."""

from __future__ import annotations

import hashlib

import jinja2
import pytest

from stepper import load, render, trace
from stepper.writing import documents
from stepper.writing.template_cache import template_cache
from tests.helpers import ROOT


def folder_for(settings: str) -> str:
    """The cache folder's name for environments made with `settings`, as template_cache names it."""
    return f"templates-jinja{jinja2.__version__}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("STEPPER_CACHE", raising=False)
    template_cache.cache_clear()
    documents.environment.cache_clear()
    yield tmp_path / "cache" / "stepper" / folder_for("")
    template_cache.cache_clear()
    documents.environment.cache_clear()


@pytest.fixture(scope="module")
def tutorial():
    return trace(load(ROOT / "examples" / "tutorial.toml"))


def fresh_render(tutorial, fmt, templates=None):
    documents.environment.cache_clear()  # a new run: templates are loaded again, from the cache if it has them
    return render(tutorial, fmt, templates=templates)


def test_the_cache_is_filled_and_the_documents_are_the_same_cold_warm_and_off(cache_home, tutorial, monkeypatch):
    cold = {fmt: fresh_render(tutorial, fmt) for fmt in ("md", "tex")}
    (used,) = cache_home.parent.glob("templates-jinja*")  # the documents' own settings name it
    kept = sorted(p.name for p in used.iterdir())
    assert kept and all(name.endswith(".cache") for name in kept)
    assert oct(used.stat().st_mode & 0o777) == oct(0o700)
    warm = {fmt: fresh_render(tutorial, fmt) for fmt in ("md", "tex")}
    monkeypatch.setenv("STEPPER_CACHE", "off")
    template_cache.cache_clear()
    assert template_cache() is None
    off = {fmt: fresh_render(tutorial, fmt) for fmt in ("md", "tex")}
    assert cold == warm == off


def test_a_folder_others_may_write_to_is_not_used(cache_home):
    cache_home.mkdir(parents=True)
    cache_home.chmod(0o777)
    assert template_cache() is None


def test_a_parent_folder_others_may_write_to_is_not_used(cache_home):
    cache_home.parent.mkdir(parents=True)
    cache_home.parent.chmod(0o777)
    assert template_cache() is None


def test_a_link_in_place_of_the_folder_is_not_used(cache_home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache_home.parent.mkdir(parents=True)
    cache_home.symlink_to(elsewhere)
    assert template_cache() is None


def test_an_edited_template_is_compiled_again(cache_home, tutorial, tmp_path):
    mine = tmp_path / "mine"
    (mine / "md").mkdir(parents=True)
    answer = mine / "md" / "answer.j2"
    answer.write_text("First version.\n")
    assert fresh_render(tutorial, "md", mine).rstrip().endswith("First version.")
    answer.write_text("Second version.\n")
    assert fresh_render(tutorial, "md", mine).rstrip().endswith("Second version.")


def test_a_cache_that_cannot_be_written_or_read_costs_nothing_but_time(cache_home, tutorial, monkeypatch):
    import errno

    import jinja2

    def full_disk(self, bucket):
        raise OSError(errno.ENOSPC, "No space left on device")

    expected = fresh_render(tutorial, "md")
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full_disk)
    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "load_bytecode", full_disk)
    assert fresh_render(tutorial, "md") == expected
