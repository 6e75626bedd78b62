"""WhatsApp numbers: Embedded Signup completion (signup), number health (health)."""
