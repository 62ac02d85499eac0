"""`kiln demo`: the end-to-end tour on the embedded default, run as a new user would run it."""
