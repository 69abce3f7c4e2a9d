"""The shared functional core every method uses: hyperparameter spaces, optimizer updates,
differentiation helpers that count their cost."""
