"""Sweepers: periodic jobs that recover work a lost queue message would otherwise strand."""
