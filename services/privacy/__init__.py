"""Privacy: personal data kept encrypted per person (crypto-shredding), its erasure and export."""
