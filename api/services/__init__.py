"""Business logic behind the routers: model holding, scoring, escalation, routing, tickets."""
