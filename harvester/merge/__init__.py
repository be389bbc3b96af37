"""The merge stage: one record per real dataset across the sources of a pipeline, with provenance.

keys (normalisation) → rules (match keys of a record) → blocking (union-find, title blocks) → scoring (titles)
→ precedence (winner, filled fields, resources) → provenance (tables) → stage (plan_units/run_unit/commit);
explain answers `harvester merge PIPELINE --explain KEY`.
"""
