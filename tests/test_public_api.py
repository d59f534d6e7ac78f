"""The public surface: ``polyresearch.__all__`` and the names the package exports agree."""

from __future__ import annotations

import types

import polyresearch
from tests._subprocess import run_python


def test_all_matches_public_names() -> None:
    """Every public attribute is in __all__ and every __all__ entry exists (no drift)."""
    public = {
        name
        for name, value in vars(polyresearch).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } | set(polyresearch._LAZY)
    exported = set(polyresearch.__all__) - {"__version__"}
    assert public == exported
    for name in polyresearch.__all__:
        assert hasattr(polyresearch, name), name


def test_all_is_unique() -> None:
    """__all__ lists each name once (its order is ruff's RUF022 isort-style order)."""
    names = list(polyresearch.__all__)
    assert len(names) == len(set(names))


def test_exported_classes_claim_the_package() -> None:
    """Exported classes live in polyresearch modules (no accidental third-party re-exports)."""
    for name in polyresearch.__all__:
        value = getattr(polyresearch, name)
        if isinstance(value, type):
            assert value.__module__.startswith("polyresearch."), (name, value.__module__)


def test_import_has_no_side_effects() -> None:
    """Importing polyresearch creates no event loop, patches nothing and starts no thread."""
    code = (
        "import asyncio, threading, sys\n"
        "before = threading.active_count()\n"
        "import polyresearch, polyresearch.protocol.events\n"
        "assert 'polyresearch.feed' not in sys.modules, 'feed imported eagerly'\n"
        "assert 'polyresearch.record' not in sys.modules, 'record imported eagerly'\n"
        "assert 'polyresearch.analysis' not in sys.modules, 'analysis imported eagerly'\n"
        "assert threading.active_count() == before, 'thread started'\n"
        "assert 'nest_asyncio' not in sys.modules, 'nest_asyncio imported'\n"
        "assert 'websockets' not in sys.modules, 'websockets imported eagerly'\n"
        "assert not hasattr(asyncio, '_nest_patched'), 'loop patched'\n"
        "try:\n"
        "    asyncio.get_running_loop()\n"
        "    raise SystemExit('loop running')\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print('clean')\n"
    )
    assert run_python(code) == "clean"


def test_lazy_record_and_analysis_names() -> None:
    """polyresearch.analysis resolves to the module; replay/export/Recorder to the record API."""
    code = (
        "import sys, polyresearch\n"
        "assert polyresearch.analysis is sys.modules['polyresearch.analysis']\n"
        "assert callable(polyresearch.analysis.ohlcv)\n"
        "from polyresearch import record\n"
        "assert polyresearch.replay is record.replay and polyresearch.export is record.export\n"
        "assert polyresearch.Recorder is record.Recorder\n"
        "print('ok')\n"
    )
    assert run_python(code) == "ok"
