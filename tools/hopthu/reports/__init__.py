"""Read-only views of the directory for people: the published staff list (danh bạ) and the like."""
