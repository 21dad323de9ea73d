"""An opened experiment's results (summary, plots, matrix, review, promote, export).

Contract with experiments_tab: build(ui, current) is called inside the Experiments tab's "Results"
inner tab; `current` is a hidden gr.Textbox holding the opened experiment's name ("" when none).
Everything here reacts to `current.change` (and refreshes itself while a run is in progress)."""
from __future__ import annotations


def build(ui, current) -> None:
    """Placeholder until the results view lands: builds nothing."""
    return None
