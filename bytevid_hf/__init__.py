"""bytevid_hf: video understanding from encoded bytes."""
