"""Traces: the SFT data the original trainers read, exported from our episodes and read back.

- :mod:`~agents.traces.trace`: :class:`Trace`, one episode as SFT data, and which assistant turns
  become structured tool calls;
- :mod:`~agents.traces.trl_format`: TRL's conversational format (``messages`` with ``tool_calls``,
  ``tools``, ``images``); :mod:`~agents.traces.sharegpt`: the released SFT set's ShareGPT layout as
  LLaMA-Factory reads it, with its ``dataset_info.json`` entry (each module's docstring says how
  ``<think>``, ``<tool_call>`` and ``<answer>`` text maps into it);
- :mod:`~agents.traces.dataset_dir`: a dataset folder written and read back (either format, and the
  released set); :mod:`~agents.traces.filters`: correct-only / minimum score and the source mix;
- :mod:`~agents.traces.export`: eval runs (pixels rebuilt by replay) and in-memory rollouts to
  traces, filtered and mixed (``export_runs``, ``export_trajectories``);
  :mod:`~agents.traces.check`: import a dataset and report; :mod:`~agents.traces.cli`: the
  ``spacetools traces`` commands.

In-memory episodes (``trajectories`` from :func:`spacetools_env.rollout.rollout` or a trainer)::

    export_trajectories({"policy": trajectories}, Path("sft"), "trl")        # correct ones only

"""

from __future__ import annotations

from agents.traces.check import CheckReport, check_dataset
from agents.traces.dataset_dir import FORMATS, read_dataset, write_dataset
from agents.traces.export import (
    ExportReport,
    export_runs,
    export_trajectories,
    trace_from_record,
    trace_from_trajectory,
)
from agents.traces.filters import DEFAULT_MIX, mix, parse_mix, passes
from agents.traces.sharegpt import dataset_info, from_sharegpt_row, to_sharegpt_row
from agents.traces.trace import Trace, TraceError, TraceImage, TraceMessage
from agents.traces.trl_format import from_trl_row, to_trl_row

__all__ = [
    "DEFAULT_MIX",
    "FORMATS",
    "CheckReport",
    "ExportReport",
    "Trace",
    "TraceError",
    "TraceImage",
    "TraceMessage",
    "check_dataset",
    "dataset_info",
    "export_runs",
    "export_trajectories",
    "from_sharegpt_row",
    "from_trl_row",
    "mix",
    "parse_mix",
    "passes",
    "read_dataset",
    "to_sharegpt_row",
    "to_trl_row",
    "trace_from_record",
    "trace_from_trajectory",
    "write_dataset",
]
