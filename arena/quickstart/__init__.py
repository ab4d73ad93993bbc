"""`arena quickstart`: the embedded default, end to end, on a tiny model in minutes on a CPU.

It builds a tiny model on the corpus of the task named in `recipes/quickstart/quickstart.yaml`, trains the
reference policy (SFT) and two judges (a reward model and a preference model), aligns the reference with
each algorithm, and runs a tournament among all of them judged by the task's exact oracle, published with
the task's report (`arena.api.TournamentReport`). Every stage but the first is an ordinary recipe in
`recipes/quickstart/`, run through the same code as `arena train` and `arena tournament`.
"""

from arena.quickstart.plan import STAGES, QuickstartOptions, Stage
from arena.quickstart.run import plan_quickstart, run_quickstart

__all__ = ["STAGES", "QuickstartOptions", "Stage", "plan_quickstart", "run_quickstart"]
