"""Recursive AD towers (Chandra et al. 2022); importing this package registers ``tower``."""

from hgbench.methods.tower.levels import LEVELS, Level, parse_levels
from hgbench.methods.tower.method import Tower

__all__ = ["LEVELS", "Level", "Tower", "parse_levels"]
