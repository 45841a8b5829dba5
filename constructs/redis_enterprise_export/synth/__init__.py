"""Synthesis: the only wing that imports the CDK framework (cdktf or cdktn)."""
