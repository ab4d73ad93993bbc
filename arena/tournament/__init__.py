"""Round-robin tournaments: generate once per entrant, judge every pair in both orders, rate, publish."""
