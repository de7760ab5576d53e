"""Plain domain types every layer may import (people and their roles). Imports nothing of the project."""
