"""Config checks before a run: typed rules, override checks, resolvers."""
