"""Training recipes (``tousu train <task>``). Needs the data in ``../shared/data``."""
