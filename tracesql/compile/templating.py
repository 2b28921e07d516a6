"""The project's Jinja environment: macros from macros/, and rendering with file and line.

Every macro file is loaded once into a module whose globals are one shared dict. Before a
model renders, its context functions (`ref`, `config`, `this`...) are put into that dict,
so a macro calling `ref()` resolves it for the model being rendered, as in dbt. Errors
become CompileErrors naming the innermost template file and line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.runtime import Macro

from tracesql.errors import CompileError, TracesqlError
from tracesql.project.nodes import literal, quote
from tracesql.project.settings import env_var_function
from tracesql.sqltext import string_literal

_MISSING = object()
# tracesql's own macros, in every project (usage analytics: docs/usage.md)
BUILTIN_MACROS = (Path(__file__).with_name("macros") / "usage.sql",)


class _SourceLoader(jinja2.BaseLoader):
    """Templates registered by name with the file they come from (shown in errors)."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[str, str]] = {}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        try:
            text, filename = self.sources[template]
        except KeyError:
            raise jinja2.TemplateNotFound(template) from None
        return text, filename, lambda: self.sources.get(template, (None, None))[0] == text


class ProjectTemplates:
    def __init__(
        self,
        project_dir: Path,
        macro_files: list[Path],
        extra_globals: dict[str, Any] | None = None,
        builtin_files: tuple[Path, ...] = BUILTIN_MACROS,
    ) -> None:
        """`builtin_files` are tracesql's own macros, loaded first: a project macro of the
        same name replaces one."""
        self.project_dir = project_dir
        self.loader = _SourceLoader()
        self.env = jinja2.Environment(
            loader=self.loader,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
            keep_trailing_newline=True,
            autoescape=False,
        )
        self.globals: dict[str, Any] = dict(self.env.globals)
        self.globals.update(quote=quote, literal=literal)
        self.globals.update(extra_globals or {})
        self.macros: dict[str, tuple[Macro, Path]] = {}
        self.builtin: set[str] = set()  # macros that a project macro may replace
        for path in builtin_files:
            self._load_macros(path)
        self.builtin = set(self.macros)
        for path in macro_files:
            self._load_macros(path)

    def _load_macros(self, path: Path) -> None:
        name = self.register(path, path.read_text(encoding="utf-8"))
        with self.errors_as_compile_errors(path, None):
            module = self.env.get_template(name, globals=self.globals).make_module(
                vars=self.globals, shared=True
            )
        for macro_name, value in vars(module).items():
            if not isinstance(value, Macro):
                continue
            if macro_name in self.builtin:
                self.builtin.discard(macro_name)
            elif macro_name in self.macros:
                other = self.macros[macro_name][1]
                raise CompileError(
                    f"macro '{macro_name}' is defined twice: here and in {self.shown(other)}",
                    path=self.shown(path),
                )
            self.macros[macro_name] = (value, path)
            self.globals[macro_name] = value

    def register(self, path: Path, text: str, name: str | None = None) -> str:
        name = name or str(path)
        self.loader.sources[name] = (text, str(path))
        return name

    def shown(self, path: Path) -> str:
        try:
            return os.path.relpath(path, self.project_dir) if path.is_absolute() else str(path)
        except ValueError:
            return str(path)

    def render(self, name: str, path: Path, context: dict[str, Any], model: str | None) -> str:
        """Render a registered template with per-node context functions in the shared globals."""
        self.globals.update(context)
        with self.errors_as_compile_errors(path, model):
            return self.env.get_template(name, globals=self.globals).render()

    def errors_as_compile_errors(self, path: Path, model: str | None) -> _CompileErrors:
        return _CompileErrors(self, path, model)


class _CompileErrors:
    """Context manager turning Jinja and context-function errors into located CompileErrors."""

    def __init__(self, templates: ProjectTemplates, path: Path, model: str | None) -> None:
        self.templates, self.path, self.model = templates, path, model

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, jinja2.TemplateSyntaxError):
            source = Path(exc.filename) if exc.filename else self.path
            raise CompileError(
                f"Jinja syntax error: {exc.message}",
                path=self.templates.shown(source),
                line=exc.lineno,
                model=self.model,
            ) from None
        frame_file, line = _template_frame(tb, self.templates.loader)
        shown = self.templates.shown(Path(frame_file) if frame_file else self.path)
        if isinstance(exc, TracesqlError):
            if exc.path is None:
                exc.path, exc.line = shown, line
            exc.model = exc.model or self.model
            raise exc
        if isinstance(
            exc, jinja2.TemplateError | TypeError | ValueError | KeyError | AttributeError | ZeroDivisionError
        ):
            message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
            raise CompileError(
                f"{type(exc).__name__}: {message}", path=shown, line=line, model=self.model
            ) from None


def _template_frame(tb: TracebackType | None, loader: _SourceLoader) -> tuple[str | None, int | None]:
    """The innermost traceback frame that is a template line: (file, line)."""
    filenames = {filename for _text, filename in loader.sources.values()}
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in filenames:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def var_function(values: dict[str, Any]) -> Callable[..., Any]:
    def var(name: str, default: Any = _MISSING) -> Any:
        if name in values:
            return values[name]
        if default is not _MISSING:
            return default
        raise CompileError(
            f"var('{name}') is not set: define it under vars in profiles.yml or pass --vars '{{{name}: ...}}'"
        )

    return var


def var_literal_function(var: Callable[..., Any]) -> Callable[..., str]:
    """`var_literal(name, default, type=None)`: a var as a SQL literal, the only way a var
    enters a model's SQL text. Ints and finite floats are written as numbers, strings
    quoted (quotes doubled); anything else, or a value not of the `type` asked for ('int',
    'float', 'number', 'string'), is a CompileError naming the var."""

    def var_literal(name: str, default: Any = _MISSING, type: str | None = None) -> str:
        value = var(name) if default is _MISSING else var(name, default)
        kind = _literal_kind(value)
        wanted = {
            "int": ("int",),
            "float": ("float", "int"),
            "number": ("int", "float"),
            "string": ("string",),
        }
        if type is not None and type not in wanted:
            raise CompileError(
                f"var_literal('{name}'): type must be one of {', '.join(wanted)}, not {type!r}"
            )
        if kind is None or (type is not None and kind not in wanted[type]):
            expected = f"a {type}" if type else "a number or a string"
            raise CompileError(f"var '{name}' must be {expected}, got {value!r} ({_type_name(value)})")
        if kind == "string":
            return string_literal(value)
        return f"({value!r})" if value < 0 else repr(value)

    return var_literal


def _literal_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float" if math.isfinite(value) else None
    return "string" if isinstance(value, str) else None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


env_var = env_var_function(CompileError)
