"""Last-iterate Nash methods against a preference model: MPO, INPO, EGPO and Nash Mirror Prox."""
