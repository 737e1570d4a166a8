"""Ketamine pharmacology: plasma pharmacokinetics (:mod:`.pk`) and NMDA-receptor block (:mod:`.receptor`)."""
