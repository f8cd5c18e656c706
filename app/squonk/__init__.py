"""Squonk2: the typed client (client.py) and the app's one instance of it (current.py)."""
