"""Our stand-ins for the container entry points named by the job commands.

A rendered command starts with the executable of the real Squonk2 image (for example
``/code/merger.py``); the runner replaces it with ``python -m <module>`` of the module
mapped here, run with the server's own interpreter.
"""

PROGRAMS: dict[str, str] = {
    "/code/merger.py": "local_squonk.programs.fragmenstein_combine",
    "/code/placer.py": "local_squonk.programs.fragmenstein_place",
    "/code/rdk_conformers.py": "local_squonk.programs.rdkit_conformers",
    "/code/im_test.py": "local_squonk.programs.im_test",
}
