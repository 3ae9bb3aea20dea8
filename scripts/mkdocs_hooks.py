"""MkDocs hook: drop nav entries whose page does not exist (yet).

The nav in mkdocs.yml lists every page the project plans, including pages
that other work adds later (the asyncio client, the compatibility layers).
``mkdocs build --strict`` fails on a nav entry without a file; this hook
removes such entries (and sections left empty) before the build, logging
each at INFO, so the site always builds from the pages that exist.

An API reference page whose ``::: module`` directive names a module that is
not in the source tree (its branch is not merged yet) is treated the same
way: left out of the nav and out of the build, with an INFO line, instead
of failing mkdocstrings.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger('mkdocs.hooks.optional_pages')

_DIRECTIVE = re.compile(r'^:::\s*([A-Za-z_][\w.]*)\s*$', re.MULTILINE)
_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_skipped_pages: set[str] = set()


def _module_exists(dotted: str) -> bool:
    path = _SOURCE_ROOT.joinpath(*dotted.split('.'))
    return (path.with_suffix('.py').is_file()
            or (path / '__init__.py').is_file())


def _missing_modules(page: Path) -> list[str]:
    return [name for name in _DIRECTIVE.findall(page.read_text())
            if not _module_exists(name)]


def _prune(items: list, docs_dir: Path) -> list:
    kept = []
    for item in items:
        if isinstance(item, dict):
            (title, target), = item.items()
            if isinstance(target, list):
                children = _prune(target, docs_dir)
                if children:
                    kept.append({title: children})
                continue
            item_path = target
        else:
            title, item_path = None, item
        if (isinstance(item_path, str) and item_path.endswith('.md')
                and '://' not in item_path):
            page = docs_dir / item_path
            if not page.is_file():
                log.info('nav: %s (%s) is not written yet; left out',
                         item_path, title)
                continue
            missing = _missing_modules(page)
            if missing:
                log.info('nav: %s (%s) documents %s, not in the source '
                         'tree; left out', item_path, title,
                         ', '.join(missing))
                _skipped_pages.add(item_path)
                continue
        kept.append(item)
    return kept


def on_config(config, **kwargs):
    docs_dir = Path(config['docs_dir'])
    _skipped_pages.clear()
    if config.get('nav'):
        config['nav'] = _prune(config['nav'], docs_dir)
    return config


def on_files(files, config, **kwargs):
    for path in _skipped_pages:
        page = files.get_file_from_path(path)
        if page is not None:
            files.remove(page)
    return files
