"""Business operations: ``verb_noun(org, ...)``; they flush, the caller commits once."""
