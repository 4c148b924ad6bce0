"""Online drift detection on the live distribution, drift events and ops signals."""
