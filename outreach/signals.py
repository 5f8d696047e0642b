"""The outreach engine's domain events, for the apps above it (sent inside the transaction)."""

from django.dispatch import Signal

# A task was made from another one (a message that could not reach the customer becomes a
# call, same kind): `original`, `copy`. The apps that keep links to their rows (which
# appointment, which repair order a task is about) link the copy as the original.
task_copied = Signal()
