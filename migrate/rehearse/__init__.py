"""``rehearse``: a whole v2 → v3 cutover on this machine, in one command, with faults on demand.

State and rules apart from transport: :mod:`.faults` (which faults exist, what each touches),
:mod:`.plan` (the dual stream as a timeline on the simulator's clock) and :mod:`.report` (the
steps and their rendering) are pure; :mod:`.listener` runs the real ``serve`` as a child
process, :mod:`.stream` drives the simulator and the v2 sender through the plan, :mod:`.steps`
calls the library function of each command a user would run by hand, and :mod:`.run` puts the
steps in order and cleans up.
"""

from migrate.rehearse.faults import FAULTS, FaultKind, expected_failures
from migrate.rehearse.report import Report, Step, final_text, step_line
from migrate.rehearse.run import DEFAULT_EVENTS, RehearsalOptions, make_directory, rehearse

__all__ = [
    "DEFAULT_EVENTS",
    "FAULTS",
    "FaultKind",
    "RehearsalOptions",
    "Report",
    "Step",
    "expected_failures",
    "final_text",
    "make_directory",
    "rehearse",
    "step_line",
]
