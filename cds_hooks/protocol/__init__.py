"""The CDS Hooks protocol: discovery, hooks, cards, feedback, $check, OperationOutcomes."""
