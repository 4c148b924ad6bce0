"""Faust agents: validate, sample, label and store production inference events."""
