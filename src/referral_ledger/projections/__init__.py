"""Read models: pure folds from events to rows."""
