"""RefPlacement program: point at the described free area with one ``roborefer.detect_one``, answer.

The same single-call trace the original model used for RefSpatial placement questions.
"""

from __future__ import annotations

from agents.programs.ref_location import program

__all__ = ["program"]
