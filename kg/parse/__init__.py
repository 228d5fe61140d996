"""Reading profile documents: which parser reads a file, the two text layouts, the
JSON Lines form, and the typed records they produce."""
