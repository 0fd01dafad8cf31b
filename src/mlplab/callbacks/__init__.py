"""Callbacks of this project; Lightning's own ones are configured directly in ``conf/callbacks``."""
