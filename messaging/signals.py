"""What the messaging layer tells the apps above it. Sent inside the transaction that recorded
the event; receivers registered in the upper apps' AppConfig.ready().

- `message_failed(message)`: an outbound message failed for good (provider refusal, callback,
  opt-out found at send time). Whoever caused it decides the next step (another channel, a
  call for an agent).
- `message_delivered(message)`: the provider confirmed the handset/inbox got it.
- `reply_received(message, customer, text, choice, inbound)`: a customer wrote back;
  `message` is the latest message they were sent on that channel (or None), `choice` the
  digit "1"/"2"/"3" when the whole reply is one. A receiver that acts on it returns a short
  label (e.g. "reminder_outcome"); the first label is recorded on the inbound message, and a
  reply no receiver took waits on the staff's queue.
"""

from django.dispatch import Signal

message_failed = Signal()
message_delivered = Signal()
reply_received = Signal()
