"""Preset models (SPEC T5): one folder per model with ``preset.json`` (name, use, accuracy,
size, created, engine, start file, parameters) and its training code, which follows the
platform's contract (``--data_path``, ``--output_path``, ``--checkpoint_path``)."""
