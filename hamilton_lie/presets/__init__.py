"""Training presets shipped with the package: ``hamilton-lie train NAME`` (see ``config.preset_names``)."""
