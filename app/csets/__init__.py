"""Computed sets: Fragalysis "ver_1.2" SDF files of molecules computed from a target's hits.

Only the validator lives here for now (``app.csets.validator``); it is pure Python + RDKit
so that both the upload page and the RQ import task can call it without an app context.
"""
