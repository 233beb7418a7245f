"""Who may do what to a model version: roles, the lifecycle state machine, sign-offs with
separation of duties, and deployments with rollback."""
