"""Replying to customers through the Cloud API.

commands.py turns a person's action into a queued outbound message; dispatch.py is the
worker's send step (and the sweeper of sends Meta never confirmed); receipts.py links Meta's
statuses back to our messages; templates.py syncs and validates the WABA's templates.
"""
