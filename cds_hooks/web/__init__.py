"""The pages people open: landing, rule catalogue, API docs, playground, review app."""
