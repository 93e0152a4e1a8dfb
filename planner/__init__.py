"""Experiments as plans: runs and their steps, each with a key over what shapes its result, run by submitit locally or
on Slurm (docs/design.md §11). The planner starts stages as processes and reads what they write; it imports none."""
