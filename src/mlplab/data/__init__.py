"""DataModules that supply the tutorial's ``x_data``/``y_data``: synthetic or from the user's files."""
