"""What the checks know: the rule packs' types (`model`), files (`files`) and loaders (`load`)."""
