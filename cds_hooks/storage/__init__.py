"""What the service keeps: one database holding feedback, remittance and SMART sessions."""
