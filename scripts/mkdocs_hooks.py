"""MkDocs hook: drop nav entries whose page does not exist (yet).

The nav in mkdocs.yml lists every page the project plans, including pages
that other work adds later (the asyncio client, the compatibility layers).
``mkdocs build --strict`` fails on a nav entry without a file; this hook
removes such entries (and sections left empty) before the build, logging
each at INFO, so the site always builds from the pages that exist.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger('mkdocs.hooks.optional_pages')


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
                and '://' not in item_path
                and not (docs_dir / item_path).is_file()):
            log.info('nav: %s (%s) is not written yet; left out', item_path,
                     title)
            continue
        kept.append(item)
    return kept


def on_config(config, **kwargs):
    docs_dir = Path(config['docs_dir'])
    if config.get('nav'):
        config['nav'] = _prune(config['nav'], docs_dir)
    return config
