"""The sales copilot: reads a ticket's conversation and proposes the sale it finds.

It only ever reads. Detectors are pure (no Flask, no db); the service modules turn their
detections into proposed sales for a person to approve.
"""
