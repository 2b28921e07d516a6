"""The one place tracesql prints, through rich: run lines, summaries, tables, records, LLM
progress, errors and warnings. Library code never prints; it returns results or emits
events (the runner's reporter calls, the LLM layer's progress events) that land here.

On a terminal, run lines, tables and progress bars fit its width and the bars redraw in
place; without one (CI logs, pipes, files) the output is plain text: no escape codes, and
lines as long as their content.

    output.py    Console: what the CLI prints
    layout.py    run lines, progress lines and table cells fitted to a width
    progress.py  LLM progress: live bars on a terminal, a line now and then otherwise
"""

from tracesql.console.output import Console

__all__ = ["Console"]
