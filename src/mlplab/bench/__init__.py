"""``make bench``: the project's Trainer path timed against the tutorial's hand-written loop, in one process."""
