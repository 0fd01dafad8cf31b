"""Every use of a private API of Lightning, Hydra, OmegaConf or torch, in one place.

Each function names the upstream issue it works around and the versions it was written for;
``tests/test_compat.py`` fails as soon as an upgrade moves or renames what it relies on.
"""
