"""The linear assignment problem, behind `jopt.assignment`."""
