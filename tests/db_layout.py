"""Where the shared test database lives and the prefix its records use.

A module of its own (not conftest.py) so that test files can import these
names: with several conftest.py files in the tree, ``import conftest`` finds
whichever was imported last.
"""
from pathlib import Path

DB_DIR = Path(__file__).parent / 'db'
TEST_DB = DB_DIR / 'test.db'
TEST_ACF = DB_DIR / 'test.acf'
TEST_PREFIX = 'TST:'
