"""The region health prober (a scheduled Lambda in the edge stack): see health.py and handler.py."""
