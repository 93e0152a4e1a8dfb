"""Every figure of the report and the claims page, one module per family. Importing the package registers them all
(analysis.figures.registry); a page shows the figures of a section in registration order, which is the order of the
imports below and of the functions within each module."""

# isort: off
from analysis.figures import accuracy, shots, probes, behaviour, training, bias, claims  # noqa: F401
# isort: on
