"""mkdocs hook: serve result files and notebook figures from where they live.

Every file under scripts/results/ becomes site path assets/results/<same path>,
and notebooks/figures/* becomes assets/figures/*, so pages link plots and
manifests without copies in docs/ that could go stale. Markdown files there
(the experiments' own READMEs) are built as pages outside the nav; their links
to a folder (`returns-table/`, which GitHub shows as the folder's README) point
to that folder's README page, or its manifest where it has no README.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parent.parent
SERVED = {"scripts/results": "assets/results", "notebooks/figures": "assets/figures"}


def on_files(files: Files, config) -> Files:
    for source, target in SERVED.items():
        for path in sorted((ROOT / source).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                uri = f"{target}/{path.relative_to(ROOT / source).as_posix()}"
                # an experiment's README.md is built as a page outside the nav
                inclusion = InclusionLevel.NOT_IN_NAV if path.suffix == ".md" else InclusionLevel.UNDEFINED
                files.append(File.generated(config, uri, abs_src_path=str(path), inclusion=inclusion))
    return files


FOLDER_LINK = re.compile(r"\]\((?P<folder>[\w./-]+)/\)")


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    if not page.file.src_uri.startswith("assets/"):
        return markdown
    here = Path(page.file.src_uri).parent

    def target(match: re.Match) -> str:
        folder = posixpath.normpath((here / match["folder"]).as_posix())
        for name in ("README.md", "manifest.json"):
            if files.get_file_from_path(f"{folder}/{name}"):
                return f"]({match['folder']}/{name})"
        return match[0]

    return FOLDER_LINK.sub(target, markdown)
