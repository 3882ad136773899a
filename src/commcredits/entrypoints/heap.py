"""The start-up heap of a long-running process (`commcredits` commands, `serve`'s workers),
set aside from the cyclic garbage collector.

By the time a command or a worker starts its work, Python has made several hundred thousand
objects that live as long as the process: modules, classes, the app, compiled statements.
Each full collection scans them all again, and an import of CDRs triggers many (its chunks
keep 10,000 records alive, which promotes them). `freeze_startup_heap` collects once and
then `gc.freeze()`s what is left, so later collections scan only what was made since;
frozen objects are still freed when nothing refers to them (docs/decisions.md 107).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect the garbage made so far, then move every object left out of the collector's
    generations. Call it once, after start-up and before the work."""
    gc.collect()
    gc.freeze()
