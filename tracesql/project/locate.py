"""Finding the project a command or a notebook works in, as git finds its repository.

    find_project_dir(Path.cwd())   # the nearest folder with profiles.yml and models/, or None

The search goes up from the starting folder and stops at the home folder (a project is
never looked for above it), or at the file system's root when the start is outside home.
A folder with models/ but no profiles.yml counts only when the search starts in it.
"""

from __future__ import annotations

from pathlib import Path

PROFILES_FILE = "profiles.yml"
MODELS_DIR = "models"


def find_project_dir(start: str | Path | None = None, *, home: Path | None = None) -> Path | None:
    """The nearest folder, from `start` (default: the working folder) up to the home folder,
    that holds both profiles.yml and models/; else `start` if it holds models/; else None."""
    here = Path(start or Path.cwd()).expanduser().resolve()
    stop = (home or Path.home()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROFILES_FILE).is_file() and (folder / MODELS_DIR).is_dir():
            return folder
        if folder == stop:
            break
    return here if (here / MODELS_DIR).is_dir() else None


def no_project_message(start: str | Path | None = None) -> str:
    """Why there is no project here, and what to do."""
    here = Path(start or Path.cwd()).resolve()
    return (
        f"no tracesql project in {here} or the folders above it (a project is a folder with "
        f"{PROFILES_FILE} and {MODELS_DIR}/): run tracesql in a project folder, pass --project-dir, "
        "or create one with `tracesql init`"
    )
