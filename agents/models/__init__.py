"""Model agents and the tiny-model kit; they need the ``models`` extra (``pip install -e ".[models]"``).

- :mod:`agents.models.tiny`: tiny random-weight checkpoints of real VLM families, written offline.
- :mod:`agents.models.hf`: the ``transformers`` VLM agent (``spacetools eval --agent hf``).
- :mod:`agents.models.templates`: the chat templates the project ships.
"""
