"""The tuning experiments: grid vs random search, hypergradient descent, meta-gradient tuning (digits MLP)."""
