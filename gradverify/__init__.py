"""gradverify (being assembled)."""
