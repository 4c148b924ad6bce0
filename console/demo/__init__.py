"""`distillery demo`: the whole loop on one machine, with a live view and a report."""
