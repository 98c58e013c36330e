"""CQRS and event sourcing: event types, aggregates, projections and the search read model."""
