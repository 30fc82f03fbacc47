"""Model card templates (installed as ``bytevid_hf.model_cards``); filled by ``bytevid_hf.hub.model_card``."""
